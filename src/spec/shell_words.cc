#include "spec/shell_words.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/strings.h"

namespace weft::spec {

Result<std::vector<std::string>> SplitDirectiveWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // distinguishes an empty quoted word ('') from no word
  char quote = '\0';
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      if (i + 1 < text.size()) word += text[++i];
      in_word = true;
    } else if (quote != '\0') {
      if (c == quote) {
        quote = '\0';
      } else {
        word += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == '#') {
      break;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != '\0') {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("unterminated {} quote",
                                                         quote == '"' ? "double" : "single"));
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string QuoteShellWord(std::string_view word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || std::string_view("_@%+=:,./-").find(static_cast<char>(c)) !=
                                        std::string_view::npos;
  });
  return plain ? std::string(word) : ShellQuote(word);
}

}  // namespace weft::spec
