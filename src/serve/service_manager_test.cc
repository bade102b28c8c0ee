#include "serve/service_manager.h"

#include <gtest/gtest.h>

#include "store/in_memory_kv_store.h"

namespace weft::serve {
namespace {

TEST(ServiceRecordsTest, PutLoadAndDeleteRoundTrip) {
  store::InMemoryKvStore store;
  model::Service a;
  a.spec.name = "alpha";
  a.spec.run = "./serve";
  a.generation = 3;
  a.endpoint_port = 40000;
  model::Service b = a;
  b.spec.name = "beta";
  ASSERT_TRUE(store.Write({PutService(a), PutService(b)}).has_value());
  auto loaded = LoadServices(store);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0], a);
  EXPECT_EQ((*loaded)[1], b);
  ASSERT_TRUE(store.Write({DeleteService("alpha")}).has_value());
  loaded = LoadServices(store);
  ASSERT_TRUE(loaded.has_value());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].spec.name, "beta");
}

TEST(ServiceRecordsTest, AnUndecodableRecordNamesItsKey) {
  store::InMemoryKvStore store;
  ASSERT_TRUE(store.Write({{"service/x", std::string("{\"spec\": 5}")}}).has_value());
  auto loaded = LoadServices(store);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("service/x"), std::string::npos) << loaded.error().message;
}

}  // namespace
}  // namespace weft::serve
