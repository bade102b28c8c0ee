// Helpers shared by the libFuzzer targets: splitting one input into the pieces a target feeds
// to the code under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::fuzz {

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits on `sep`, keeping empty pieces.
inline std::vector<std::string> SplitOn(std::string_view text, std::string_view sep) {
  std::vector<std::string> out;
  for (;;) {
    const std::size_t at = text.find(sep);
    if (at == std::string_view::npos) {
      out.emplace_back(text);
      return out;
    }
    out.emplace_back(text.substr(0, at));
    text.remove_prefix(at + sep.size());
  }
}

// Takes one line (without its '\n') off the front of `text`.
inline std::string TakeLine(std::string_view& text) {
  const std::size_t nl = text.find('\n');
  std::string line(text.substr(0, nl));
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  return line;
}

}  // namespace weft::fuzz
