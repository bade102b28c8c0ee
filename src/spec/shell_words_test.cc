#include "spec/shell_words.h"

#include <gtest/gtest.h>

namespace weft::spec {
namespace {

using Words = std::vector<std::string>;

TEST(SplitDirectiveWordsTest, SplitsLikeSbatch) {
  struct Case {
    const char* text;
    Words want;
  };
  const Case kCases[] = {
      {" -N 2 --time=1:00", {"-N", "2", "--time=1:00"}},
      {" -J \"my job\"", {"-J", "my job"}},
      {" --comment='a b'   # why", {"--comment=a b"}},
      {" --time=1:00:00 # one hour", {"--time=1:00:00"}},
      {" --job-name=\"a#b\"", {"--job-name=a#b"}},
      {" --job-name=a#b", {"--job-name=a"}},  // sbatch: an unquoted '#' ends the line
      {" -o $HOME/out", {"-o", "$HOME/out"}},  // no expansion
      {" -J ''", {"-J", ""}},
      {" -J my\\ job", {"-J", "my job"}},
      {" -J \"say \\\"hi\\\"\"", {"-J", "say \"hi\""}},
      {"\t-N\t2\r", {"-N", "2"}},
      {"", {}},
      {"   # only a comment", {}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto got = SplitDirectiveWords(c.text);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(*got, c.want);
  }
}

TEST(SplitDirectiveWordsTest, RejectsUnterminatedQuote) {
  const auto got = SplitDirectiveWords(" -J \"my job");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().message, "unterminated double quote");
}

TEST(QuoteShellWordTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(QuoteShellWord("python"), "python");
  EXPECT_EQ(QuoteShellWord("--lr=3e-4"), "--lr=3e-4");
  EXPECT_EQ(QuoteShellWord("/data/x.csv"), "/data/x.csv");
  EXPECT_EQ(QuoteShellWord("hello world"), "'hello world'");
  EXPECT_EQ(QuoteShellWord("it's"), "'it'\\''s'");
  EXPECT_EQ(QuoteShellWord("$HOME"), "'$HOME'");
  EXPECT_EQ(QuoteShellWord("*.txt"), "'*.txt'");
  EXPECT_EQ(QuoteShellWord(""), "''");
}

}  // namespace
}  // namespace weft::spec
