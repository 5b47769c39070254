#pragma once
// The parameter of the tensor-parallel tests that run a fixture at several sizes: (fixture name,
// tp, whether embedding and LM head are split by vocabulary rows), and its readable test name.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "engine/model/tensor_shard.h"

namespace troupe::test {

using TpParam = std::tuple<std::string, int32_t, bool>;

inline VocabSplit vocab_split_of(const TpParam& p) { return std::get<2>(p) ? VocabSplit::Parallel : VocabSplit::Replicated; }

inline std::string tp_param_name(const ::testing::TestParamInfo<TpParam>& info) {
  std::string n = std::get<0>(info.param) + "_tp" + std::to_string(std::get<1>(info.param)) +
                  (std::get<2>(info.param) ? "_vocab_split" : "_vocab_replicated");
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

}  // namespace troupe::test
