#include "common/strings.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

TEST(StringsTest, ParseIntRejectsJunkAndAcceptsWholeNumbers) {
  EXPECT_EQ(ParseInt("42"), 42);
  EXPECT_EQ(ParseInt("-3"), -3);
  EXPECT_FALSE(ParseInt("4x").has_value());
  EXPECT_FALSE(ParseInt("").has_value());
  EXPECT_FALSE(ParseInt("99999999999999999999").has_value());
}

TEST(StringsTest, SplitKeepsEmptyFieldsAndTrimStripsWhitespace) {
  EXPECT_EQ(Split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Trim("  x y \n"), "x y");
}

TEST(StringsTest, ShellQuoteSurvivesSingleQuotes) {
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(StringsTest, IsValidUtf8AcceptsUtf8AndRejectsTheRest) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));                  // never valid
  EXPECT_FALSE(IsValidUtf8("caf\xe9"));               // Latin-1
  EXPECT_FALSE(IsValidUtf8("\xc3"));                  // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));              // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));          // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));      // above U+10FFFF
}

}  // namespace
}  // namespace weft
