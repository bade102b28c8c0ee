// The web dashboard's static files (web/ in the source tree), embedded into the binary at
// build time by cmake/embed_assets.cmake, and served without the token: the login page must
// load before the browser has one. Every call the page makes goes to /v1 with the token it
// keeps in sessionStorage. Routes: GET / and /index.html (the page), GET /assets/<file>.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "net/http.h"

namespace weft::api {

// One embedded file; `path` is relative to web/ ("index.html", "pages/job.js").
struct EmbeddedAsset {
  const char* path;
  const unsigned char* data;
  std::size_t size;
};

// The embedded file at `path` (relative to web/), or null.
const EmbeddedAsset* FindAsset(std::string_view path);
// Content type by file extension ("application/octet-stream" when unknown).
std::string_view ContentTypeFor(std::string_view path);

// The response for a dashboard route, or nullopt when `request` is not one (the caller goes
// on to its other routes). Thread-safe: reads only the embedded files.
std::optional<net::HttpResponse> ServeDashboard(const net::HttpRequest& request);

}  // namespace weft::api
