#include "api/auth.h"

#include <openssl/sha.h>

#include <fstream>
#include <mutex>

#include <fmt/format.h>

namespace weft::api {
namespace {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string Hex(const unsigned char* bytes, std::size_t n) {
  std::string hex;
  hex.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", bytes[i]);
  return hex;
}

}  // namespace

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return Hex(digest, sizeof digest);
}

Result<std::string> NewToken() {
  unsigned char raw[32];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(raw), sizeof raw)) {
    return Fail(ErrorCode::kInternal, "cannot read /dev/urandom");
  }
  return Hex(raw, sizeof raw);
}

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool lower = c >= 'a' && c <= 'z';
    const bool ok = lower || c == '_' || (i > 0 && ((c >= '0' && c <= '9') || c == '-')) ||
                    (c == '$' && i + 1 == name.size() && i > 0);
    if (!ok) return false;
  }
  return true;
}

Authenticator::Authenticator(std::string admin_token, std::string admin_user, std::string join_token)
    : admin_token_(std::move(admin_token)), admin_user_(std::move(admin_user)), join_token_(std::move(join_token)) {}

std::optional<Principal> Authenticator::Authenticate(std::string_view token) const {
  if (!admin_token_.empty() && ConstantTimeEquals(token, admin_token_)) {
    return Principal{admin_user_, true, false};
  }
  if (!join_token_.empty() && ConstantTimeEquals(token, join_token_)) return Principal{"", false, true};
  const std::string hash = Sha256Hex(token);
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

void Authenticator::Put(const model::User& user) {
  std::unique_lock lock(mu_);
  std::erase_if(by_hash_, [&](const auto& entry) { return entry.second.user == user.name; });
  if (!user.revoked) by_hash_[user.token_sha256] = Principal{user.name, user.admin, false};
}

}  // namespace weft::api
