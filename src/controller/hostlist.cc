#include "controller/hostlist.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "common/strings.h"

namespace weft::controller {

std::string CompressHostlist(const std::vector<std::string>& names) {
  struct Group {
    std::string prefix;
    std::size_t width;
    std::vector<long long> numbers;
  };
  std::vector<Group> groups;
  std::vector<std::string> parts;  // in order; groups rendered in place of their first member
  std::vector<int> part_group;
  for (const std::string& name : names) {
    std::size_t digits = 0;
    while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[name.size() - 1 - digits]))) {
      ++digits;
    }
    if (digits == 0 || digits == name.size()) {
      parts.push_back(name);
      part_group.push_back(-1);
      continue;
    }
    const std::string prefix = name.substr(0, name.size() - digits);
    const std::string number = name.substr(name.size() - digits);
    const std::size_t width = number.size() > 1 && number[0] == '0' ? number.size() : 0;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.prefix == prefix && g.width == width;
    });
    if (it == groups.end()) {
      groups.push_back({prefix, width, {}});
      it = groups.end() - 1;
      parts.emplace_back();
      part_group.push_back(static_cast<int>(it - groups.begin()));
    }
    it->numbers.push_back(*ParseInt(number));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (part_group[i] < 0) {
      out.push_back(parts[i]);
      continue;
    }
    Group& g = groups[part_group[i]];
    std::sort(g.numbers.begin(), g.numbers.end());
    g.numbers.erase(std::unique(g.numbers.begin(), g.numbers.end()), g.numbers.end());
    auto fmt_num = [&](long long n) {
      std::string s = std::to_string(n);
      if (s.size() < g.width) s.insert(0, g.width - s.size(), '0');
      return s;
    };
    if (g.numbers.size() == 1) {
      out.push_back(g.prefix + fmt_num(g.numbers[0]));
      continue;
    }
    std::vector<std::string> ranges;
    for (std::size_t a = 0; a < g.numbers.size();) {
      std::size_t b = a;
      while (b + 1 < g.numbers.size() && g.numbers[b + 1] == g.numbers[b] + 1) ++b;
      ranges.push_back(a == b ? fmt_num(g.numbers[a])
                              : fmt_num(g.numbers[a]) + "-" + fmt_num(g.numbers[b]));
      a = b + 1;
    }
    out.push_back(g.prefix + "[" + Join(ranges, ",") + "]");
  }
  return Join(out, ",");
}

}  // namespace weft::controller
