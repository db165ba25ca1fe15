// The many-sites case of Quill's harness (bench/peers.sh builds it for Quill and shmlog): each timed call
// is one of 1,000 distinct log call sites, the cases of one switch, picked in a shuffled order, so the
// code of every site competes for the instruction cache and the branch predictors as in a program that
// logs from many places, where a one-site loop keeps its one site hot.
//
// A logger's file defines MANY_SITES_LOG(N), its log statement with N in the format, and uses
// MANY_SITES_SWITCH as the body of the harness's log_func(i, j, d); on_start calls MANY_SITES_WARM(log_func),
// which calls every site once (the order's first 1,000 picks are one permutation), so that no first call
// of a site (its registration, its static data's first touch) lands among the timed ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace many_sites {

constexpr unsigned sites = 1000;
// 64 permutations of the sites, one after another: every site as often, never in the same order twice.
constexpr unsigned picks = 64 * sites;

inline std::vector<uint16_t> const order = []()
{
  std::vector<uint16_t> o(picks);
  std::mt19937 random{49};
  for (unsigned p = 0; p < picks; p += sites)
  {
    for (unsigned k = 0; k < sites; ++k)
      o[p + k] = static_cast<uint16_t>(k);
    std::shuffle(o.begin() + p, o.begin() + p + sites, random);
  }
  return o;
}();
inline thread_local unsigned next = 0;

inline unsigned pick()
{
  unsigned const site = order[next];
  next = next + 1 == picks ? 0 : next + 1;
  return site;
}

} // namespace many_sites

// Case labels 1000 .. 1999: numbers of four digits, none read as octal.
#define MANY_SITES_CASE(N) \
  case N: MANY_SITES_LOG(N); break;
#define MANY_SITES_10(p)                                                                              \
  MANY_SITES_CASE(p##0) MANY_SITES_CASE(p##1) MANY_SITES_CASE(p##2) MANY_SITES_CASE(p##3) MANY_SITES_CASE(p##4) \
  MANY_SITES_CASE(p##5) MANY_SITES_CASE(p##6) MANY_SITES_CASE(p##7) MANY_SITES_CASE(p##8) MANY_SITES_CASE(p##9)
#define MANY_SITES_100(p)                                                                             \
  MANY_SITES_10(p##0) MANY_SITES_10(p##1) MANY_SITES_10(p##2) MANY_SITES_10(p##3) MANY_SITES_10(p##4)    \
  MANY_SITES_10(p##5) MANY_SITES_10(p##6) MANY_SITES_10(p##7) MANY_SITES_10(p##8) MANY_SITES_10(p##9)
#define MANY_SITES_SWITCH                                                                            \
  switch (1000 + many_sites::pick())                                                                 \
  {                                                                                                  \
    MANY_SITES_100(10) MANY_SITES_100(11) MANY_SITES_100(12) MANY_SITES_100(13) MANY_SITES_100(14)   \
    MANY_SITES_100(15) MANY_SITES_100(16) MANY_SITES_100(17) MANY_SITES_100(18) MANY_SITES_100(19)   \
  }
#define MANY_SITES_WARM(log_func)                                 \
  for (unsigned many_sites_k = 0; many_sites_k < many_sites::sites; ++many_sites_k) \
    log_func(many_sites_k, many_sites_k, 1.0)
