#include "lb/picker.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace weft::lb {
namespace {

// ---- Contract: every picker. ----

template <class T>
std::unique_ptr<Picker> New();
template <>
std::unique_ptr<Picker> New<RoundRobinPicker>() { return std::make_unique<RoundRobinPicker>(); }
template <>
std::unique_ptr<Picker> New<LeastOutstandingPicker>() {
  return std::make_unique<LeastOutstandingPicker>();
}
template <>
std::unique_ptr<Picker> New<PowerOfTwoChoicesPicker>() {
  return std::make_unique<PowerOfTwoChoicesPicker>(42);
}

template <class T>
class PickerContractTest : public ::testing::Test {
 protected:
  std::unique_ptr<Picker> picker_ = New<T>();
};

using PickerTypes =
    ::testing::Types<RoundRobinPicker, LeastOutstandingPicker, PowerOfTwoChoicesPicker>;
TYPED_TEST_SUITE(PickerContractTest, PickerTypes);

TYPED_TEST(PickerContractTest, ReturnsNoneWhenNoBackendIsReady) {
  const std::vector<EndpointLoad> none_ready = {{false, 0}, {false, 0}, {false, 3}};

  EXPECT_EQ(this->picker_->Pick(none_ready), std::nullopt);
  EXPECT_EQ(this->picker_->Pick({}), std::nullopt);
}

TYPED_TEST(PickerContractTest, NeverPicksANotReadyBackend) {
  // The not-ready ones are also the least loaded: a picker must not be tempted.
  const std::vector<EndpointLoad> loads = {{false, 0}, {true, 5}, {false, 0}, {true, 7}};

  for (int i = 0; i < 200; ++i) {
    const std::optional<std::size_t> pick = this->picker_->Pick(loads);
    ASSERT_TRUE(pick.has_value());
    EXPECT_TRUE(*pick == 1 || *pick == 3) << *pick;
  }
}

TYPED_TEST(PickerContractTest, PicksTheOnlyReadyBackend) {
  const std::vector<EndpointLoad> loads = {{false, 0}, {false, 0}, {true, 100}};

  for (int i = 0; i < 10; ++i) EXPECT_EQ(this->picker_->Pick(loads), 2u);
}

TYPED_TEST(PickerContractTest, SpreadsEqualLoadOverAllReadyBackends) {
  const std::vector<EndpointLoad> loads(4, EndpointLoad{true, 0});
  std::map<std::size_t, int> count;

  for (int i = 0; i < 400; ++i) ++count[*this->picker_->Pick(loads)];

  ASSERT_EQ(count.size(), 4u);
  for (const auto& [index, n] : count) EXPECT_GE(n, 50) << "backend " << index;
}

TYPED_TEST(PickerContractTest, FollowsChangesInReadiness) {
  std::vector<EndpointLoad> loads = {{true, 0}, {true, 0}};
  this->picker_->Pick(loads);

  loads[0].is_ready = false;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(this->picker_->Pick(loads), 1u);
  loads[0].is_ready = true;
  loads[1].is_ready = false;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(this->picker_->Pick(loads), 0u);
}

// ---- Each policy. ----

TEST(RoundRobinPickerTest, TakesTurnsInOrderSkippingNotReady) {
  RoundRobinPicker picker;
  const std::vector<EndpointLoad> loads = {{true, 9}, {false, 0}, {true, 0}, {true, 0}};
  std::vector<std::size_t> picks;

  for (int i = 0; i < 6; ++i) picks.push_back(*picker.Pick(loads));

  EXPECT_EQ(picks, (std::vector<std::size_t>{0, 2, 3, 0, 2, 3}));
}

TEST(LeastOutstandingPickerTest, PrefersTheIdleBackend) {
  LeastOutstandingPicker picker;
  const std::vector<EndpointLoad> loads = {{true, 3}, {true, 0}, {true, 5}};

  for (int i = 0; i < 10; ++i) EXPECT_EQ(picker.Pick(loads), 1u);
}

TEST(LeastOutstandingPickerTest, BreaksTiesRoundRobin) {
  LeastOutstandingPicker picker;
  const std::vector<EndpointLoad> loads = {{true, 1}, {true, 4}, {true, 1}, {true, 1}};
  std::vector<std::size_t> picks;

  for (int i = 0; i < 6; ++i) picks.push_back(*picker.Pick(loads));

  EXPECT_EQ(picks, (std::vector<std::size_t>{0, 2, 3, 0, 2, 3}));
}

TEST(PowerOfTwoChoicesPickerTest, NeverPicksTheMostLoadedOfThree) {
  // Any two distinct choices include a backend less loaded than the busiest one.
  PowerOfTwoChoicesPicker picker(7);
  const std::vector<EndpointLoad> loads = {{true, 1}, {true, 50}, {true, 2}};

  for (int i = 0; i < 200; ++i) EXPECT_NE(picker.Pick(loads), 1u);
}

TEST(PowerOfTwoChoicesPickerTest, SameSeedGivesSamePicks) {
  PowerOfTwoChoicesPicker a(123);
  PowerOfTwoChoicesPicker b(123);
  const std::vector<EndpointLoad> loads(8, EndpointLoad{true, 0});

  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Pick(loads), b.Pick(loads));
}

TEST(MakePickerTest, BuildsEachPolicyByName) {
  for (const char* name : {"round_robin", "least_outstanding", "power_of_two"}) {
    SCOPED_TRACE(name);
    Result<std::unique_ptr<Picker>> picker = MakePicker(name, 1);

    ASSERT_TRUE(picker.has_value());
    const std::vector<EndpointLoad> loads = {{true, 0}};
    EXPECT_EQ((*picker)->Pick(loads), 0u);
  }
}

TEST(MakePickerTest, UnknownNameIsAnErrorNamingTheField) {
  Result<std::unique_ptr<Picker>> picker = MakePicker("random");

  ASSERT_FALSE(picker.has_value());
  EXPECT_EQ(picker.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(picker.error().message.find("picker"), std::string::npos);
  EXPECT_NE(picker.error().message.find("\"random\""), std::string::npos);
  EXPECT_NE(picker.error().message.find("least_outstanding"), std::string::npos);
}

}  // namespace
}  // namespace weft::lb
