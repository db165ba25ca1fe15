/* Description: logs C++ containers, pairs, tuples, variants, optionals (of structs too), paths, thread ids,
 * smart pointers, wide strings, steady_clock time points and shmlog_codec types (nested too), each beside what
 * libfmt (fmt/ranges.h, fmt/std.h) prints for it ("want <message>"), the JSON value each field must read back as
 * ("json <name> <value>"), a container too long for a record ("cut <elements>"), then "done <dropped>"
 * (tests/test_tree_cxx.sh reads them). One call of six trees is made on a thread of a 64 KiB stack: a tree
 * takes no buffer of the record's bound on the caller's stack. */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <pthread.h>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

/* A call logged and its message as fmt prints the same value (want: fmt's text
 * for the one placeholder, when fmt cannot format the type itself). */
#define CALL(name, value, want)                                                            \
    do {                                                                                   \
        SHMLOG_INFO(name "={}", value);                                                    \
        std::printf("want %s=%s\n", name, std::string(want).c_str());                      \
    } while (0)
#define BOTH(name, value) CALL(name, value, fmt::format("{}", value))

enum class Side : short { Buy = 1, Sell = -2 };
SHMLOG_ENUM(Side, Buy, Sell);
struct Leg {
    int qty;
    double px;
    std::string venue;
};
SHMLOG_STRUCT(Leg, qty, px, venue);

/* A class with private members and its codecs: one copies the fields, one formats at the call. */
class Book {
  public:
    Book(long bid, long ask) : bid_(bid), ask_(ask) {}

  private:
    long bid_, ask_;
    friend struct shmlog_codec<Book>;
};
template <> struct shmlog_codec<Book> {
    static auto value(const Book &b) { return std::make_tuple(b.bid_, b.ask_); }
};
class Quote {
  public:
    explicit Quote(double px) : px_(px) {}

  private:
    double px_;
    friend struct shmlog_codec<Quote>;
};
template <> struct shmlog_codec<Quote> {
    static std::string value(const Quote &q) { return fmt::format("Q<{:.2f}>", q.px_); }
};

/* Six trees in one call, on a stack smaller than six buffers of the most a record holds
 * (guarded by more than they would take, so such a frame faults instead of writing past it). */
static void *small_stack_call(void *)
{
    const std::vector<double> px{1.5, 2.25, 3.125, 100.5, 0.1, 99.75, 1e-3, 42.0};
    const std::map<std::string, int> qty{{"ask", 2}, {"bid", 1}};
    const std::vector<std::string> venues{"XNAS", "XNYS", "BATS"};
    const std::pair<int, std::string> leg{7, "IOC"};
    const std::tuple<int, double, bool> fill{3, 0.5, false};
    std::set<long> ids; /* 1,505 bytes of nodes: longer than a call's own buffer of a tree, written into the record */
    for (long i = 0; i < 300; i++)
        ids.insert(i * 7);
    SHMLOG_INFO("small={} {} {} {} {} {}", px, qty, venues, leg, fill, ids);
    std::printf("want small=%s\n", fmt::format("{} {} {} {} {} {}", px, qty, venues, leg, fill, ids).c_str());
    std::printf("field small %s\n", fmt::format("{}", px).c_str());
    return nullptr;
}

static int run_on_small_stack(void *(*fn)(void *))
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 64 * 1024) != 0 ||
        pthread_attr_setguardsize(&attr, 1024 * 1024) != 0 || pthread_create(&t, &attr, fn, nullptr) != 0)
        return -1;
    pthread_attr_destroy(&attr);
    return pthread_join(t, nullptr) == 0 ? 0 : -1;
}

int main()
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "tree-cxx";
    if (shmlog_init(&cfg) != 0)
        return 1;

    BOTH("vector", (std::vector<int>{1, -2, 3}));
    BOTH("empty", (std::vector<int>{}));
    BOTH("doubles", (std::vector<double>{1.5, 0.1, 1e20, -0.0, 3.0}));
    BOTH("floats", (std::vector<float>{0.1f, 2.5f}));
    BOTH("bools", (std::vector<bool>{true, false}));
    BOTH("chars", (std::vector<char>{'a', '\'', '"', '\n'}));
    BOTH("bytes", (std::vector<unsigned char>{200, 0}));
    BOTH("i8", (std::vector<signed char>{-3, 7}));
    BOTH("strings", (std::vector<std::string>{"a", "b\"c\n", "tab\there", "back\\slash", "\x01\x7f", "caf\xc3\xa9"}));
    BOTH("views", (std::vector<std::string_view>{"x", "yz"}));
    BOTH("cstrs", (std::vector<const char *>{"p", "q"}));
    BOTH("array", (std::array<long, 3>{4, 5, 6}));
    BOTH("deque", (std::deque<unsigned>{7, 8}));
    BOTH("list", (std::list<short>{-1, 2}));
    BOTH("set", (std::set<int>{3, 1, 2}));
    BOTH("sset", (std::set<std::string>{"b", "a"}));
    BOTH("map", (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
    BOTH("imap", (std::map<int, double>{{1, 0.5}, {2, 2.0}}));
    BOTH("umap", (std::unordered_map<int, int>{{5, 6}}));
    BOTH("nested", (std::vector<std::vector<int>>{{1, 2}, {}, {3}}));
    BOTH("mapset", (std::map<int, std::set<int>>{{1, {2, 3}}}));
    BOTH("pair", (std::pair<int, std::string>{1, "x"}));
    BOTH("tuple", (std::tuple<int, std::string, double, bool>{1, "x", 2.5, true}));
    BOTH("tuple0", std::tuple<>{});
    BOTH("pairs", (std::vector<std::pair<std::string, double>>{{"bid", 1.25}, {"ask", 1.5}}));
    BOTH("variant", (std::variant<int, std::string>{std::string("x")}));
    BOTH("variant2", (std::variant<int, std::string>{4}));
    BOTH("variants", (std::vector<std::variant<int, double>>{1, 2.5}));
    BOTH("path", std::filesystem::path("/tmp/a b"));
    BOTH("tid", std::this_thread::get_id());
    BOTH("durations", (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(5), std::chrono::milliseconds(7)}));
    BOTH("mixed", (std::map<std::string, std::vector<std::pair<int, char>>>{{"k", {{1, 'z'}}}}));
    std::vector<std::string> words; /* longer than a call's own buffer of a tree: written into the record */
    for (int i = 0; i < 120; i++)
        words.push_back(fmt::format("w{}\"", i * 13));
    BOTH("words", words);
    const std::map<int, double> small_map{{1, 0.5}};
    SHMLOG_INFO("both={} {}", small_map, words); /* one tree in its buffer, one written into the record */
    std::printf("want both=%s\n", fmt::format("{} {}", small_map, words).c_str());
    std::printf("field both %s\n", fmt::format("{}", small_map).c_str());

    /* what fmt 9 cannot format itself: fmt's text of what it stands for */
    auto ptr = std::make_unique<int>(3);
    CALL("unique", ptr, fmt::format("{}", fmt::ptr(ptr.get())));
    auto shared = std::make_shared<double>(1.5);
    CALL("shared", shared, fmt::format("{}", fmt::ptr(shared.get())));
    CALL("wide", std::wstring(L"h\u00e9llo \u20ac"), "h\u00e9llo \u20ac");
    const auto steady = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(123456789));
    CALL("steady", steady, fmt::format("{}", steady.time_since_epoch()));
    /* fmt 9 quotes a path's text again inside a range (["\"/x\""]); fmt 10 on, and shmlog, once */
    CALL("paths", (std::vector<std::filesystem::path>{"/x", "y z"}), "[\"/x\", \"y z\"]");
    CALL("opt", (std::optional<std::vector<int>>{std::vector<int>{1}}), "[1]");
    CALL("optnone", (std::optional<std::vector<int>>{}), "none");
    CALL("optleg", (std::optional<Leg>{Leg{10, 2.5, "XNAS"}}), "{qty=10, px=2.5, venue=XNAS}");
    CALL("opts", (std::vector<std::optional<int>>{1, std::nullopt}), "[optional(1), none]");
    CALL("legs", (std::vector<Leg>{Leg{1, 0.5, "A"}, Leg{2, 1.5, "B"}}), "[{qty=1, px=0.5, venue=A}, {qty=2, px=1.5, venue=B}]");
    CALL("sides", (std::vector<Side>{Side::Buy, Side::Sell, static_cast<Side>(9)}), "[Buy, Sell, 9]");
    CALL("book", Book(101, 102), fmt::format("{}", std::make_tuple(101L, 102L)));
    CALL("quote", Quote(1.005), "Q<1.00>");
    CALL("quotes", (std::vector<Quote>{Quote(1.5), Quote(2.25)}), "[Q<1.50>, Q<2.25>]");
    CALL("wides", (std::vector<std::wstring>{L"a\u00e9"}), "[\"a\u00e9\"]");
    if (run_on_small_stack(small_stack_call) != 0)
        return 1;

    /* JSON values the fields read back as */
    std::printf("json vector [1,-2,3]\njson map {\"a\":1,\"b\":2}\njson imap {\"1\":0.5,\"2\":2.0}\n");
    std::printf("json pair [1,\"x\"]\njson optnone null\njson optleg {\"qty\":10,\"px\":2.5,\"venue\":\"XNAS\"}\n");
    std::printf("json nested [[1,2],[],[3]]\njson variant \"x\"\njson strings [\"a\",\"b\\\"c\\n\",\"tab\\there\",\"back\\\\slash\",\"\\u0001\\u007f\",\"caf\\u00e9\"]\n");

    /* Arrow's typed columns ("arrow <name> <its one value as JSON>", a map as its [key, value] pairs) */
    std::printf("arrow doubles [1.5,0.1,1e20,-0.0,3.0]\narrow map [[\"a\",1],[\"b\",2]]\narrow nested [[1,2],[],[3]]\n");
    std::printf("arrow bools [true,false]\narrow chars [\"a\",\"'\",\"\\\"\",\"\\n\"]\narrow mapset [[1,[2,3]]]\n");
    std::printf("arrow opts [1,null]\narrow opt [1]\narrow i8 [-3,7]\narrow bytes [200,0]\narrow umap [[5,6]]\n");
    /* a pair or tuple: a struct of fields "0", "1", ...; one with a variant, or of no elements, its text */
    std::printf("arrow pair {\"0\":1,\"1\":\"x\"}\narrow tuple {\"0\":1,\"1\":\"x\",\"2\":2.5,\"3\":true}\n");
    std::printf("arrow pairs [{\"0\":\"bid\",\"1\":1.25},{\"0\":\"ask\",\"1\":1.5}]\narrow book {\"0\":101,\"1\":102}\n");
    std::printf("arrow mixed [[\"k\",[{\"0\":1,\"1\":\"z\"}]]]\narrowtext tuple0\narrowtext variants\n");
    std::printf("arrow strings [\"a\",\"b\\\"c\\n\",\"tab\\there\",\"back\\\\slash\",\"\\u0001\\u007f\",\"caf\\u00e9\"]\n");
    /* one name, two shapes: its column holds the text (README, the Arrow stream) */
    SHMLOG_INFO("twice={}", (std::vector<int>{1}));
    SHMLOG_INFO("twice={}", (std::vector<double>{0.5}));
    std::printf("want twice=[1]\nwant twice=[0.5]\narrowtext twice\n");

    /* longer than a record holds: cut, and marked with how many elements did not fit */
    std::vector<int> many(1000); /* 5 KB of nodes: past the default argument bound */
    for (int i = 0; i < 1000; i++)
        many[static_cast<size_t>(i)] = i;
    SHMLOG_INFO("many={}", many);
    std::printf("cut %zu\n", many.size());

    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    std::printf("done %llu\n", static_cast<unsigned long long>(dropped));
    return 0;
}
