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

}  // namespace
}  // namespace weft
