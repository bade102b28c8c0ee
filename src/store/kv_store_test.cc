// The KvStore contract, run against every implementation.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/in_memory_kv_store.h"
#include "store/kv_store.h"
#include "store/sqlite_kv_store.h"
#include "store/temp_dir_for_test.h"

namespace weft::store {
namespace {

using namespace std::string_literals;
using Pairs = std::vector<std::pair<std::string, std::string>>;

struct InMemoryFactory {
  std::unique_ptr<KvStore> Make() { return std::make_unique<InMemoryKvStore>(); }
};

struct SqliteFactory {
  TempDir dir;
  std::unique_ptr<KvStore> Make() {
    auto store = SqliteKvStore::Open(dir.File("kv.db"));
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
};

template <class Factory>
class KvStoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Make();
    ASSERT_NE(store_, nullptr);
  }

  void Put(const std::string& key, const std::string& value) {
    ASSERT_TRUE(store_->Write({{key, value}}).has_value());
  }
  std::optional<std::string> GetOrDie(std::string_view key) {
    auto r = store_->Get(key);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : std::nullopt;
  }
  std::vector<std::string> Keys(std::string_view prefix) {
    auto r = store_->List(prefix);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    std::vector<std::string> keys;
    if (r) {
      for (auto& [key, value] : *r) keys.push_back(key);
    }
    return keys;
  }

  Factory factory_;
  std::unique_ptr<KvStore> store_;
};

using Implementations = ::testing::Types<InMemoryFactory, SqliteFactory>;
TYPED_TEST_SUITE(KvStoreContractTest, Implementations);

TYPED_TEST(KvStoreContractTest, GetMissingReturnsNullopt) {
  EXPECT_EQ(this->GetOrDie("nope"), std::nullopt);
  EXPECT_EQ(this->GetOrDie(""), std::nullopt);
}

TYPED_TEST(KvStoreContractTest, PutThenGet) {
  this->Put("job/1", "hello");
  EXPECT_EQ(this->GetOrDie("job/1"), "hello");
  EXPECT_EQ(this->GetOrDie("job/2"), std::nullopt);
}

TYPED_TEST(KvStoreContractTest, OverwriteReplacesValue) {
  this->Put("k", "one");
  this->Put("k", "two");
  EXPECT_EQ(this->GetOrDie("k"), "two");
  EXPECT_EQ(this->Keys("").size(), 1u);
}

TYPED_TEST(KvStoreContractTest, DeleteRemovesKeyAndDeletingMissingKeyIsOk) {
  this->Put("k", "v");
  ASSERT_TRUE(this->store_->Write({{"k", std::nullopt}}).has_value());
  EXPECT_EQ(this->GetOrDie("k"), std::nullopt);
  EXPECT_TRUE(this->store_->Write({{"never-existed", std::nullopt}}).has_value());
}

TYPED_TEST(KvStoreContractTest, EmptyBatchIsANoOp) {
  EXPECT_TRUE(this->store_->Write({}).has_value());
  EXPECT_TRUE(this->Keys("").empty());
}

TYPED_TEST(KvStoreContractTest, BatchAppliesEveryOpInOrder) {
  this->Put("old", "x");
  const WriteBatch batch = {
      {"a", "1"}, {"b", "2"}, {"a", "3"}, {"old", std::nullopt}, {"c", "4"}, {"c", std::nullopt},
  };
  ASSERT_TRUE(this->store_->Write(batch).has_value());
  EXPECT_EQ(this->GetOrDie("a"), "3");
  EXPECT_EQ(this->GetOrDie("b"), "2");
  EXPECT_EQ(this->GetOrDie("c"), std::nullopt);
  EXPECT_EQ(this->GetOrDie("old"), std::nullopt);
  EXPECT_EQ(this->Keys(""), (std::vector<std::string>{"a", "b"}));
}

TYPED_TEST(KvStoreContractTest, ListReturnsExactlyThePrefixInKeyOrder) {
  for (const char* key :
       {"job/2", "jobx", "job/10", "jo", "job", "job/", "job0", "job/1", "k", "a"}) {
    this->Put(key, std::string("v:") + key);
  }
  EXPECT_EQ(this->Keys("job/"), (std::vector<std::string>{"job/", "job/1", "job/10", "job/2"}));
  EXPECT_EQ(this->Keys("job/1"), (std::vector<std::string>{"job/1", "job/10"}));
  EXPECT_EQ(this->Keys("job/10"), (std::vector<std::string>{"job/10"}));
  EXPECT_EQ(this->Keys("job"), (std::vector<std::string>{"job", "job/", "job/1", "job/10",
                                                          "job/2", "job0", "jobx"}));
  EXPECT_EQ(this->Keys(""), (std::vector<std::string>{"a", "jo", "job", "job/", "job/1",
                                                      "job/10", "job/2", "job0", "jobx", "k"}));
  EXPECT_TRUE(this->Keys("job/3").empty());
  EXPECT_TRUE(this->Keys("zzz").empty());

  auto pairs = this->store_->List("job/1");
  ASSERT_TRUE(pairs.has_value());
  EXPECT_EQ(*pairs, (Pairs{{"job/1", "v:job/1"}, {"job/10", "v:job/10"}}));
}

TYPED_TEST(KvStoreContractTest, ListHandlesHighBytesInPrefix) {
  // Bytes order as unsigned; a prefix ending in 0xff has no simple successor.
  for (const std::string& key :
       {"a\xfe"s, "a\xff"s, "a\xff\xff"s, "a\xff\xff\x01"s, "b"s, "\xff"s, "\xff\x01"s}) {
    this->Put(key, "v");
  }
  EXPECT_EQ(this->Keys("a\xff"), (std::vector<std::string>{"a\xff", "a\xff\xff",
                                                            "a\xff\xff\x01"}));
  EXPECT_EQ(this->Keys("a\xff\xff"), (std::vector<std::string>{"a\xff\xff", "a\xff\xff\x01"}));
  EXPECT_EQ(this->Keys("\xff"), (std::vector<std::string>{"\xff", "\xff\x01"}));
  EXPECT_EQ(this->Keys("a"), (std::vector<std::string>{"a\xfe", "a\xff", "a\xff\xff",
                                                        "a\xff\xff\x01"}));
}

TYPED_TEST(KvStoreContractTest, ValuesAndKeysAreBinarySafe) {
  const std::string value = "a\0b\0\xff\x01"s;
  const std::string key = "bin\0key"s;
  ASSERT_EQ(key.size(), 7u);
  this->Put(key, value);
  this->Put("bin", "");
  this->Put("bin\x01"s, "x");
  EXPECT_EQ(this->GetOrDie(key), value);
  EXPECT_EQ(this->GetOrDie("bin"), "");  // Empty, not missing.
  EXPECT_EQ(this->GetOrDie("bin\0"s), std::nullopt);

  auto pairs = this->store_->List("bin");
  ASSERT_TRUE(pairs.has_value());
  EXPECT_EQ(*pairs, (Pairs{{"bin", ""}, {key, value}, {"bin\x01"s, "x"}}));
  pairs = this->store_->List("bin\0"s);
  ASSERT_TRUE(pairs.has_value());
  EXPECT_EQ(*pairs, (Pairs{{key, value}}));
}

TYPED_TEST(KvStoreContractTest, LargeValueRoundTrips) {
  std::string value(1 << 20, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 131);
  this->Put("big", value);
  EXPECT_EQ(this->GetOrDie("big"), value);
}

}  // namespace
}  // namespace weft::store
