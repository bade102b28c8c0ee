// Word splitting for directive lines, and quoting for generated scripts. Nothing is expanded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace weft::spec {

// Splits the text after "#SBATCH"/"#WEFT" into words the way sbatch does: blanks separate
// words, single or double quotes group characters (the quotes are removed), a backslash makes
// the next character literal, and an unquoted, unescaped '#' starts a comment that runs to the
// end of the line. No variable, glob or tilde expansion. Fails on an unterminated quote.
Result<std::vector<std::string>> SplitDirectiveWords(std::string_view text);

// `word` as a POSIX shell reads it back verbatim: unchanged when it only holds characters
// that need no quoting, otherwise single-quoted.
std::string QuoteShellWord(std::string_view word);

}  // namespace weft::spec
