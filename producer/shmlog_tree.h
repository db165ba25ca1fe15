/* ---- value trees: the encoder (C++) ----
 *
 * What the writer of a call with a container, pair, tuple, variant, path,
 * wide string, std::optional of a struct or a shmlog_codec type runs for it:
 * the value as a tree of tagged nodes (shmlog_args.h), which the record
 * carries as a string. A tree of up to SHMLOG_TREE_INLINE_BYTES is encoded
 * into a buffer on the writer's stack and copied, as a string is; a longer
 * one is walked again to count its bytes, so that the record is reserved for
 * them, and once more to write them straight into the record's slots (a
 * codec's value() runs at each walk): no buffer of the payload bound is on
 * the caller's stack. Out of line, one function per type: the sites of
 * scalars never see it. */

namespace shmlog_detail {

template <int> void get(); /* lets get<I>(x) find std::get by argument-dependent lookup before C++20 */

/* Where a tree's bytes go: counted only, into a buffer, or into a record at
 * its cursor (n: the bytes already there). The walks that reserve and write
 * a record are exact: both take the node that crosses the limit up to it; a
 * buffer that a tree does not fit is not used. */
struct tree_count {
    static constexpr bool exact = true;
    void copy(const void *, size_t, size_t) {}
};
struct tree_buffer {
    static constexpr bool exact = false;
    uint8_t *p;
    void copy(const void *src, size_t k, size_t n) { memcpy(p + n, src, k); }
};
struct tree_record {
    static constexpr bool exact = true;
    struct shmlog__cursor *at;
    void copy(const void *src, size_t k, size_t) { shmlog__put_bytes(at, src, k); }
};

/* A tree being written up to limit bytes: once a node does not fit, nothing
 * more is, and the counts already written tell readers what is missing. */
template <typename Sink> struct tree_out {
    Sink sink;
    size_t n;
    size_t limit;
    bool full;
    void put(const void *src, size_t k)
    {
        if (full || k > limit - n) {
            if (Sink::exact && !full) {
                sink.copy(src, limit - n, n);
                n = limit;
            }
            full = true;
            return;
        }
        sink.copy(src, k, n);
        n += k;
    }
    void tag(unsigned t)
    {
        const uint8_t b = static_cast<uint8_t>(t);
        put(&b, 1);
    }
    void u32(size_t v)
    {
        const uint32_t w = v > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<uint32_t>(v);
        put(&w, 4);
    }
    void i64(long long v) { put(&v, 8); }
    /* a string's length then as many of its bytes as fit */
    void text(unsigned t, const char *s, size_t len)
    {
        tag(t);
        u32(len);
        put(s, len);
    }
};

template <typename T, typename = void> struct has_size : std::false_type {};
template <typename T> struct has_size<T, std::void_t<decltype(std::declval<const T &>().size())>> : std::true_type {};

template <typename T, typename O> void tree_node(O &o, const T &x);

/* The n-th name of a macro's list "id, px" (SHMLOG_ENUM, SHMLOG_STRUCT). */
inline void tree_list_name(const char *names, unsigned k, const char **at, size_t *len)
{
    for (;; k--) {
        while (*names == ' ' || *names == ',')
            names++;
        const char *end = names;
        while (*end && *end != ',' && *end != ' ')
            end++;
        if (!k) {
            *at = names;
            *len = static_cast<size_t>(end - names);
            return;
        }
        names = end;
    }
}

/* A wide string as UTF-8 (a code point that is none as U+FFFD). */
template <typename O, typename W> void tree_wide(O &o, const W &w)
{
    size_t len = 0;
    for (wchar_t c : w) {
        const uint32_t u = static_cast<uint32_t>(c);
        len += u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4 - (u > 0x10FFFF);
    }
    o.tag(SHMLOG_TREE_STR);
    o.u32(len);
    for (wchar_t c : w) {
        uint32_t u = static_cast<uint32_t>(c);
        if (u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF))
            u = 0xFFFD;
        uint8_t b[4];
        size_t k;
        if (u < 0x80) {
            b[0] = static_cast<uint8_t>(u);
            k = 1;
        } else if (u < 0x800) {
            b[0] = static_cast<uint8_t>(0xC0 | u >> 6);
            b[1] = static_cast<uint8_t>(0x80 | (u & 0x3F));
            k = 2;
        } else if (u < 0x10000) {
            b[0] = static_cast<uint8_t>(0xE0 | u >> 12);
            b[1] = static_cast<uint8_t>(0x80 | (u >> 6 & 0x3F));
            b[2] = static_cast<uint8_t>(0x80 | (u & 0x3F));
            k = 3;
        } else {
            b[0] = static_cast<uint8_t>(0xF0 | u >> 18);
            b[1] = static_cast<uint8_t>(0x80 | (u >> 12 & 0x3F));
            b[2] = static_cast<uint8_t>(0x80 | (u >> 6 & 0x3F));
            b[3] = static_cast<uint8_t>(0x80 | (u & 0x3F));
            k = 4;
        }
        o.put(b, k);
        if (o.full)
            return;
    }
}

template <typename O, typename T, std::size_t... I> void tree_tuple(O &o, const T &x, std::index_sequence<I...>)
{
    o.tag(SHMLOG_TREE_TUPLE);
    o.u32(sizeof...(I));
    (tree_node<typename std::decay<typename std::tuple_element<I, T>::type>::type>(o, get<I>(x)), ...);
}

template <typename O, typename T> void tree_range(O &o, const T &x, unsigned tag)
{
    size_t count = 0;
    if constexpr (has_size<T>::value)
        count = x.size();
    else
        for (auto it = x.begin(); it != x.end(); ++it)
            count++;
    o.tag(tag);
    o.u32(count);
    for (const auto &e : x) {
        if (o.full)
            return;
        if constexpr (is_map_like<T>::value) {
            tree_node<typename std::decay<typename T::key_type>::type>(o, e.first);
            tree_node<typename std::decay<typename T::mapped_type>::type>(o, e.second);
        } else {
            tree_node<typename std::decay<typename T::value_type>::type>(o, e); /* vector<bool>'s proxy: its bool */
        }
    }
}

/* One node: the kinds in the order a type is told apart (a codec first, a
 * path before the range it also is). */
template <typename T, typename O> void tree_node(O &o, const T &x)
{
    if constexpr (has_codec<T>::value) {
        const codec_value<T> v = shmlog_codec<T>::value(x);
        if constexpr (is_text<codec_value<T>>::value)
            o.text(SHMLOG_TREE_TEXT, v.data(), v.size()); /* what the codec formatted prints as it is */
        else
            tree_node<codec_value<T>>(o, v);
    } else if constexpr (is_wide_text<T>::value) {
        tree_wide(o, x);
    } else if constexpr (is_text<T>::value) {
        o.text(SHMLOG_TREE_STR, x.data() ? x.data() : "", x.size());
    } else if constexpr (std::is_same<T, char *>::value || std::is_same<T, const char *>::value) {
        const char *s = x ? x : "(null)";
        o.text(SHMLOG_TREE_STR, s, strlen(s));
    } else if constexpr (std::is_same<T, char>::value) {
        o.tag(SHMLOG_TREE_CHAR);
        o.put(&x, 1);
    } else if constexpr (is_path<T>::value) {
        static_assert(std::is_same<typename T::value_type, char>::value, "shmlog: a path of char");
        o.text(SHMLOG_TREE_PATH, x.native().data(), x.native().size());
    } else if constexpr (is_duration<T>::value) {
        o.tag(SHMLOG_TREE_DURATION);
        o.i64(static_cast<long long>(x.count()));
        const char *unit = fmt_unit<T>() ? fmt_unit<T>() : "";
        const size_t n = strlen(unit);
        const uint8_t len = static_cast<uint8_t>(n);
        o.put(&len, 1);
        o.put(unit, n);
    } else if constexpr (is_other_time_point<T>::value) {
        tree_node<typename T::duration>(o, x.time_since_epoch());
    } else if constexpr (is_time_point<T>::value) {
        o.tag(SHMLOG_TREE_TIME);
        o.i64(time_point_ns(x));
    } else if constexpr (described_enum<T>::value) {
        constexpr enum_info e = shmlog__describe_enum(T{});
        const long long v = static_cast<long long>(x);
        for (unsigned k = 0; k < e.count; k++) {
            if (e.values[k] == v) {
                const char *name;
                size_t len;
                tree_list_name(e.names, k, &name, &len);
                o.text(SHMLOG_TREE_TEXT, name, len);
                return;
            }
        }
        tree_node<typename std::underlying_type<T>::type>(o, static_cast<typename std::underlying_type<T>::type>(x));
    } else if constexpr (described_struct<T>::value) {
        constexpr struct_info s = shmlog__describe_struct(static_cast<const T *>(nullptr));
        o.tag(SHMLOG_TREE_STRUCT);
        const uint8_t count = static_cast<uint8_t>(s.count);
        o.put(&count, 1);
        unsigned k = 0;
        const char *names = s.names;
        shmlog__struct_each(x, [&o, &k, names](const auto &m) {
            const char *name;
            size_t len;
            tree_list_name(names, k++, &name, &len);
            const uint8_t n = static_cast<uint8_t>(len);
            o.put(&n, 1);
            o.put(name, len);
            tree_node<typename std::decay<decltype(m)>::type>(o, m);
        });
    } else if constexpr (is_optional_any<T>::value) {
        if (x.has_value()) {
            o.tag(SHMLOG_TREE_SOME);
            tree_node<typename T::value_type>(o, *x);
        } else {
            o.tag(SHMLOG_TREE_NONE);
        }
    } else if constexpr (is_variant<T>::value) {
        o.tag(SHMLOG_TREE_VARIANT);
        if (x.valueless_by_exception())
            o.text(SHMLOG_TREE_TEXT, "valueless by exception", 22);
        else
            visit([&o](const auto &v) { tree_node<typename std::decay<decltype(v)>::type>(o, v); }, x);
    } else if constexpr (is_map_like<T>::value) {
        tree_range(o, x, SHMLOG_TREE_MAP);
    } else if constexpr (is_set_like<T>::value) {
        tree_range(o, x, SHMLOG_TREE_SET);
    } else if constexpr (is_range<T>::value) {
        tree_range(o, x, SHMLOG_TREE_SEQ);
    } else if constexpr (is_tuple_like<T>::value) {
        tree_tuple(o, x, std::make_index_sequence<std::tuple_size<T>::value>{});
    } else {
        /* a scalar: its argument code and bits, as a record holds it */
        const unsigned t = arg_type<T>();
        const cap c = capture(x);
        o.tag(t);
        o.put(&c.v, shmlog_arg_width(t));
    }
}

/* The bytes of x's tree up to the process's argument bound, or one more
 * than the most a record holds when it does not fit, so that the writer
 * cuts and marks it. */
template <typename T> __attribute__((noinline)) size_t measure_tree(const T &x)
{
    tree_out<tree_count> o{{}, 0, shmlog__load_relaxed(&shmlog__payload_bound), false};
    tree_node<T>(o, x);
    return o.full ? SHMLOG_MAX_PAYLOAD + 1 : o.n;
}

/* x's tree in out (SHMLOG_TREE_INLINE_BYTES): its length, or SIZE_MAX when
 * it is longer than out or the argument bound, and is measured
 * (measure_tree) and written into the record (write_tree) instead. */
template <typename T> __attribute__((noinline)) size_t encode_tree(const T &x, uint8_t *out)
{
    const size_t bound = shmlog__load_relaxed(&shmlog__payload_bound);
    tree_out<tree_buffer> o{{out}, 0, bound < SHMLOG_TREE_INLINE_BYTES ? bound : SHMLOG_TREE_INLINE_BYTES, false};
    tree_node<T>(o, x);
    return SHMLOG__LIKELY(!o.full) ? o.n : SIZE_MAX;
}

/* The first len bytes of the tree at obj (a const T *) at the record's
 * cursor: len is at most what measure_tree counted. A value that shrank
 * since (another thread changed it, which the caller may not do) is padded
 * with zero bytes, so the record still has the length it was reserved for. */
template <typename T> __attribute__((noinline)) void write_tree(uint64_t obj, struct shmlog__cursor *at, size_t len)
{
    tree_out<tree_record> o{{at}, 0, len, false};
    tree_node<T>(o, *reinterpret_cast<const T *>(obj));
    static const uint8_t zeros[8] = {0};
    while (SHMLOG__UNLIKELY(o.n < len))
        o.put(zeros, len - o.n < sizeof zeros ? len - o.n : sizeof zeros);
}

} // namespace shmlog_detail
