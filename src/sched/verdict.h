// A plugin's answer. Not an error: "does not fit" is a normal outcome.
#pragma once

#include <string>
#include <utility>

namespace weft::sched {

class Verdict {
 public:
  enum class Code {
    kSuccess,
    kUnschedulable,  // may fit later, when resources free up
    kUnresolvable,   // can never fit on this node, whatever else happens
  };
  static Verdict Success() { return Verdict(Code::kSuccess, {}); }
  static Verdict Unschedulable(std::string reason) {
    return Verdict(Code::kUnschedulable, std::move(reason));
  }
  static Verdict Unresolvable(std::string reason) {
    return Verdict(Code::kUnresolvable, std::move(reason));
  }
  bool ok() const { return code_ == Code::kSuccess; }
  Code code() const { return code_; }
  const std::string& reason() const { return reason_; }

 private:
  Verdict(Code code, std::string reason) : code_(code), reason_(std::move(reason)) {}
  Code code_;
  std::string reason_;
};

}  // namespace weft::sched
