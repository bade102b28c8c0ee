#include "api/dashboard.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace weft::api {

// Generated from web/ by cmake/embed_assets.cmake (dashboard_assets.cc in the build tree).
extern const EmbeddedAsset kEmbeddedAssets[];
extern const std::size_t kEmbeddedAssetCount;

namespace {

// FNV-1a over the bytes: a strong enough validator for files that change only with the binary.
std::string ETagOf(const EmbeddedAsset& asset) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < asset.size; ++i) {
    h ^= asset.data[i];
    h *= 1099511628211ull;
  }
  return fmt::format("\"{:016x}\"", h);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const EmbeddedAsset* FindAsset(std::string_view path) {
  for (std::size_t i = 0; i < kEmbeddedAssetCount; ++i) {
    if (kEmbeddedAssets[i].path == path) return &kEmbeddedAssets[i];
  }
  return nullptr;
}

std::string_view ContentTypeFor(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},        {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},   {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},                    {".png", "image/png"},
      {".ico", "image/x-icon"},                     {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (EndsWith(path, ext)) return type;
  }
  return "application/octet-stream";
}

std::optional<net::HttpResponse> ServeDashboard(const net::HttpRequest& request) {
  if (request.method != "GET") return std::nullopt;
  std::string_view file;
  if (request.path == "/" || request.path == "/index.html") {
    file = "index.html";
  } else if (StartsWith(request.path, "/assets/")) {
    file = std::string_view(request.path).substr(std::string_view("/assets/").size());
  } else {
    return std::nullopt;
  }
  const EmbeddedAsset* asset = file.find("..") == std::string_view::npos ? FindAsset(file) : nullptr;
  if (!asset) {
    return net::HttpResponse{404, "text/plain; charset=utf-8", fmt::format("no dashboard file {}\n", request.path), {}};
  }
  const std::string etag = ETagOf(*asset);
  // Files are not fingerprinted, so the browser revalidates every time (a cheap 304) and an
  // upgraded server's page is never mixed with a cached old script. The CSP keeps the page
  // from loading anything that Weft itself does not serve.
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Cache-Control", "no-cache"},
      {"ETag", etag},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
  };
  if (request.Header("if-none-match") == etag) return net::HttpResponse{304, "", "", std::move(headers)};
  return net::HttpResponse{200, std::string(ContentTypeFor(file)),
                           std::string(reinterpret_cast<const char*>(asset->data), asset->size),
                           std::move(headers)};
}

}  // namespace weft::api
