#include "api/auth.h"

#include <gtest/gtest.h>

namespace weft::api {
namespace {

TEST(AuthTest, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTest, AdminTokenIsTheAdminUserAndAgent) {
  Authenticator auth("tok", "alice");
  auto p = auth.Authenticate("tok");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->user, "alice");
  EXPECT_TRUE(p->admin);
  EXPECT_TRUE(p->agent);
  EXPECT_FALSE(auth.Authenticate("to").has_value());
  EXPECT_FALSE(auth.Authenticate("").has_value());
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
