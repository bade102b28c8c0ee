// Small string helpers shared by parsers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

std::string_view Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
bool StartsWith(std::string_view s, std::string_view prefix);
// Parses a whole base-10 integer; nullopt on any junk, sign errors or overflow.
std::optional<long long> ParseInt(std::string_view s);
// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF), which is what JSON encoding (nlohmann's dump) requires.
bool IsValidUtf8(std::string_view s);
// Quotes `s` for a POSIX shell (single quotes).
std::string ShellQuote(std::string_view s);

}  // namespace weft
