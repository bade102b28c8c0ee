#include "api/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "api/server.h"

namespace weft::api {
namespace {

TEST(AuthTest, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTest, AdminTokenIsTheAdminUserAndNotAnAgent) {
  Authenticator auth("tok", "alice", "join");
  auto p = auth.Authenticate("tok");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->user, "alice");
  EXPECT_TRUE(p->admin);
  EXPECT_FALSE(p->agent);
  EXPECT_FALSE(auth.Authenticate("to").has_value());
  EXPECT_FALSE(auth.Authenticate("").has_value());
}

TEST(AuthTest, JoinTokenIsAnAgentAndNoUser) {
  Authenticator auth("tok", "alice", "join");
  auto p = auth.Authenticate("join");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->agent);
  EXPECT_FALSE(p->admin);
  EXPECT_EQ(p->user, "");
  EXPECT_FALSE(auth.Authenticate("joi").has_value());
  EXPECT_FALSE(auth.Authenticate("join ").has_value());
}

TEST(AuthTest, WithoutAJoinTokenNoTokenIsAnAgent) {
  Authenticator auth("tok", "alice");
  EXPECT_FALSE(auth.Authenticate("").has_value());
  EXPECT_FALSE(auth.Authenticate("tok")->agent);
}

TEST(AuthTest, UserTokensWorkUntilRevoked) {
  Authenticator auth("tok", "root");
  model::User bob{"bob", false, Sha256Hex("bobs-token"), {}, false};
  auth.Put(bob);
  auto p = auth.Authenticate("bobs-token");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->user, "bob");
  EXPECT_FALSE(p->admin);
  EXPECT_FALSE(p->agent);
  bob.revoked = true;
  auth.Put(bob);
  EXPECT_FALSE(auth.Authenticate("bobs-token").has_value());
}

TEST(AuthTest, JoinTokenFileIsCreatedOnceWithMode0600AndDiffersFromTheAdminToken) {
  char tmpl[] = "/tmp/weft-auth-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  auto admin = LoadOrCreateToken(dir);
  auto join = LoadOrCreateJoinToken(dir);
  ASSERT_TRUE(admin.has_value() && join.has_value());
  EXPECT_EQ(join->size(), 64u);
  EXPECT_NE(*join, *admin);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/join_token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(LoadOrCreateJoinToken(dir).value(), *join);  // kept across restarts
  EXPECT_EQ(LoadOrCreateToken(dir).value(), *admin);
  std::filesystem::remove_all(dir);
}

TEST(AuthTest, UserNamesFollowUseradd) {
  EXPECT_TRUE(IsValidUserName("alice"));
  EXPECT_TRUE(IsValidUserName("_svc-1"));
  EXPECT_FALSE(IsValidUserName(""));
  EXPECT_FALSE(IsValidUserName("Alice"));
  EXPECT_FALSE(IsValidUserName("1abc"));
  EXPECT_FALSE(IsValidUserName("a b"));
  EXPECT_FALSE(IsValidUserName(std::string(33, 'a')));
}

}  // namespace
}  // namespace weft::api
