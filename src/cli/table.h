// Column-aligned text tables for listing commands, and time formatting Slurm users know.
#pragma once

#include <string>
#include <vector>

namespace weft::cli {

// Renders rows under a header, columns padded to their widest cell.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);
// Seconds as Slurm prints elapsed time: "M:SS", "H:MM:SS", "D-HH:MM:SS".
std::string FormatElapsed(long long seconds);

}  // namespace weft::cli
