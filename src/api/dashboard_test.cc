#include "api/dashboard.h"

#include <gtest/gtest.h>

namespace weft::api {
namespace {

net::HttpRequest Get(std::string path) {
  net::HttpRequest r;
  r.method = "GET";
  r.path = r.target = std::move(path);
  return r;
}

std::string HeaderOf(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(DashboardTest, EmbedsEveryFileOfWeb) {
  for (const char* path : {"index.html", "app.js", "api.js", "style.css", "pages/cluster.js", "pages/queue.js",
                           "pages/job.js", "pages/queues.js", "pages/services.js"}) {
    const EmbeddedAsset* asset = FindAsset(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_GT(asset->size, 0u) << path;
  }
  EXPECT_EQ(FindAsset("nope.js"), nullptr);
}

TEST(DashboardTest, ServesThePageAndAssetsWithTypesAndValidators) {
  const auto page = ServeDashboard(Get("/"));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  const EmbeddedAsset* index = FindAsset("index.html");
  EXPECT_EQ(page->body, std::string(reinterpret_cast<const char*>(index->data), index->size));
  EXPECT_EQ(HeaderOf(*page, "Cache-Control"), "no-cache");
  EXPECT_NE(HeaderOf(*page, "Content-Security-Policy").find("default-src 'self'"), std::string::npos);

  const auto script = ServeDashboard(Get("/assets/pages/job.js"));
  ASSERT_TRUE(script);
  EXPECT_EQ(script->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(ServeDashboard(Get("/assets/style.css"))->content_type, "text/css; charset=utf-8");

  // A revalidation with the same ETag is a bodiless 304.
  net::HttpRequest again = Get("/assets/pages/job.js");
  again.headers["if-none-match"] = HeaderOf(*script, "ETag");
  const auto not_modified = ServeDashboard(again);
  EXPECT_EQ(not_modified->status, 304);
  EXPECT_TRUE(not_modified->body.empty());

  EXPECT_EQ(ServeDashboard(Get("/assets/missing.js"))->status, 404);
  EXPECT_EQ(ServeDashboard(Get("/assets/../CMakeLists.txt"))->status, 404);
  EXPECT_FALSE(ServeDashboard(Get("/v1/jobs")));
  EXPECT_FALSE(ServeDashboard(Get("/metrics")));
  net::HttpRequest post = Get("/");
  post.method = "POST";
  EXPECT_FALSE(ServeDashboard(post));
}

TEST(DashboardTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("a/b.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("x.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace weft::api
