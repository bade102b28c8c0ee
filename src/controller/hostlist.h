// Slurm hostlist expressions: ["n1","n2","n3","gpu-a"] → "n[1-3],gpu-a".
#pragma once

#include <string>
#include <vector>

namespace weft::controller {

// Compresses names that share a prefix and differ in a trailing number (zero padding kept).
// Order of first appearance is kept for the prefixes.
std::string CompressHostlist(const std::vector<std::string>& names);

}  // namespace weft::controller
