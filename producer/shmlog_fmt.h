/* ---- {} formats (C++) ----
 *
 * A C++ call may write its format as fmt does ("px={:.2f} qty={}"). The
 * format is checked against the argument types at compile time, which works
 * out the printf conversions of its placeholders; the printf format that
 * prints the same is made of them and of the format's text when the site
 * registers (shmlog__made_fmt): the site registers that one, so the record,
 * its fields by name and every reader stay as for a printf format. One rule
 * is the readers' own: %s on an argument that is not a string prints it as
 * fmt's {} does (a bool as true/false, a floating point number as its
 * shortest round-trip decimal, a pointer as 0x...), which is what a bare {}
 * on those becomes. */

namespace shmlog_detail {

/* Why a format was refused: the name shows in the compiler's note. */
enum class fmt_reason {
    none,
    no_argument_for_placeholder,
    more_arguments_than_placeholders,
    unmatched_brace,
    nested_width_or_precision_not_automatic,
    presentation_a_A_unsupported,
    positional_index_out_of_order,
    named_placeholder_not_the_next_named_argument,
    automatic_placeholder_after_a_named_one,
    automatic_and_manual_indexes_mixed,
    type_does_not_fit_argument,
    precision_on_integer,
    sign_on_unsigned,
    sign_hash_or_zero_on_text,
    shortest_float_takes_no_sign_hash_or_zero,
    precision_on_integer_duration_or_time_point,
    chrono_spec_letter_unsupported,
    semicolon_in_spec_unsupported,
    width_or_precision_argument_not_an_integer,
    duration_unit_unsupported,
    spec_on_struct_unsupported,
};

/* What a placeholder may print an argument as. */
enum fmt_kind : unsigned char { k_other, k_bool, k_char, k_signed, k_unsigned, k_float, k_text, k_pointer, k_struct };

template <typename T> constexpr fmt_kind fmt_kind_of()
{
    if constexpr (tree_shape<T>::value) {
        return k_text;
    } else if constexpr (is_thread_id<T>::value) {
        return k_unsigned;
    } else if constexpr (is_smart_pointer<T>::value) {
        return k_pointer;
    } else if constexpr (described_struct<T>::value) {
        return k_struct;
    } else if constexpr (is_duration<T>::value) {
        return fmt_kind_of<typename T::rep>();
    } else if constexpr (is_time_point<T>::value) {
        return k_signed;
    } else if constexpr (std::is_enum<T>::value) {
        return std::is_signed<typename std::underlying_type<T>::type>::value ? k_signed : k_unsigned;
    } else if constexpr (std::is_same<T, bool>::value) {
        return k_bool;
    } else if constexpr (std::is_same<T, char>::value) {
        return k_char;
    } else if constexpr (std::is_integral<T>::value) {
        return std::is_signed<T>::value ? k_signed : k_unsigned;
    } else if constexpr (std::is_floating_point<T>::value) {
        return k_float;
    } else if constexpr (arg_type<T>() == SHMLOG_ARG_STR) {
        return k_text;
    } else if constexpr (std::is_pointer<T>::value || std::is_null_pointer<T>::value) {
        return k_pointer;
    } else {
        return k_other; /* unsupported: capture() says so, once */
    }
}

/* What {} prints after a duration's count, as fmt does; "" for what is not a duration, NULL
 * for a unit without one. */
template <typename T> constexpr const char *fmt_unit()
{
    if constexpr (!is_duration<T>::value) {
        return "";
    } else {
        typedef typename T::period P;
        if constexpr (std::is_same<P, std::nano>::value)
            return "ns";
        else if constexpr (std::is_same<P, std::micro>::value)
            return "\xc2\xb5s"; /* U+00B5, as fmt prints it */
        else if constexpr (std::is_same<P, std::milli>::value)
            return "ms";
        else if constexpr (std::is_same<P, std::ratio<1>>::value)
            return "s";
        else if constexpr (std::is_same<P, std::ratio<60>>::value)
            return "m";
        else if constexpr (std::is_same<P, std::ratio<3600>>::value)
            return "h";
        else
            return nullptr;
    }
}

constexpr const char fmt_suppressed[] = SHMLOG__SUPPRESSED;

/* Where a translation writes: n bytes at p so far (past its array: not a
 * constant, so a compile error, never a cut format). */
struct fmt_out {
    char *p;
    size_t n;
    constexpr void put(char c) { p[n++] = c; }
    constexpr void put_number(int v)
    {
        if (v < 10) { /* most widths and precisions: no array for Clang's evaluator to make */
            put(static_cast<char>('0' + v));
            return;
        }
        char d[12] = {};
        int k = 0;
        do {
            d[k++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v);
        while (k)
            put(d[--k]);
    }
};

constexpr bool fmt_is_digit(char c) { return c >= '0' && c <= '9'; }
/* A floating-point presentation printf writes as fmt does, given a precision. */
constexpr bool fmt_float_letter(char c) { return c == 'f' || c == 'F' || c == 'e' || c == 'E' || c == 'g' || c == 'G'; }

/* The bytes of the UTF-8 character that starts with c (a fill character). */
constexpr size_t fmt_fill_bytes(char c)
{
    const unsigned u = static_cast<unsigned char>(c);
    return u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : u >= 0xC0 ? 2 : 1;
}

/* Parses one placeholder's spec (after the ':', up to '}') for an argument of
 * kind k and writes its printf conversion; fmt_reason::none or why not. What
 * printf has no words for (a fill character, centring, b/B, a sign or 0x
 * before any integer, a width or precision from the next arguments: dyn's
 * bits 1 and 2) sets entry: the conversion is then the plain one for the
 * type, and the readers print the value by the spec itself. */
constexpr fmt_reason fmt_conversion(const char *s, size_t len, fmt_kind k, size_t width_bytes, fmt_out &out,
                                    int &dyn, bool &entry)
{
    size_t i = 0;
    char align = 0;
    const size_t fill_len = fmt_fill_bytes(s[0]);
    if (len > fill_len && (s[fill_len] == '<' || s[fill_len] == '>' || s[fill_len] == '^')) {
        entry = entry || s[0] != ' ' || s[fill_len] == '^';
        align = s[fill_len];
        i = fill_len + 1;
    } else if (len >= 1 && (s[0] == '<' || s[0] == '>' || s[0] == '^')) {
        align = s[0];
        entry = entry || align == '^';
        i = 1;
    }
    char sign = 0;
    if (i < len && (s[i] == '+' || s[i] == '-' || s[i] == ' '))
        sign = s[i++];
    bool hash = i < len && s[i] == '#';
    i += hash;
    bool zero = i < len && s[i] == '0';
    i += zero;
    int width = -1, prec = -1;
    if (i + 1 < len && s[i] == '{' && s[i + 1] == '}') {
        dyn |= 1;
        entry = true;
        i += 2;
    } else if (i < len && s[i] == '{') {
        return fmt_reason::nested_width_or_precision_not_automatic;
    }
    for (; i < len && fmt_is_digit(s[i]); i++)
        width = (width < 0 ? 0 : width) * 10 + (s[i] - '0');
    if (i < len && s[i] == '.') {
        i++;
        if (i + 1 < len && s[i] == '{' && s[i + 1] == '}') {
            dyn |= 2;
            entry = true;
            prec = 0;
            i += 2;
        } else if (i < len && s[i] == '{') {
            return fmt_reason::nested_width_or_precision_not_automatic;
        } else if (i >= len || !fmt_is_digit(s[i])) {
            return fmt_reason::unmatched_brace;
        } else {
            for (prec = 0; i < len && fmt_is_digit(s[i]); i++)
                prec = prec * 10 + (s[i] - '0');
        }
    }
    if (i < len && s[i] == 'L')
        i++; /* the C locale's: no separators, as fmt prints in it */
    char type = i < len ? s[i++] : 0;
    if (i != len)
        return fmt_reason::unmatched_brace;
    if (type == 'a' || type == 'A')
        return fmt_reason::presentation_a_A_unsupported;
    if (k == k_other)
        type = 's'; /* the argument's own error is enough */

    /* Which printf conversion, and whether fmt aligns it left by default. */
    char conv = 0;
    bool left = false, shortest = false;
    if ((k == k_bool || k == k_char) &&
        (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' || type == 'B'))
        k = k == k_bool ? k_unsigned : k_signed; /* fmt prints them as numbers then */
    switch (k) {
    case k_text:
    case k_struct:
    case k_other:
        if (type != 0 && type != 's')
            return fmt_reason::type_does_not_fit_argument;
        conv = 's';
        left = true;
        break;
    case k_bool:
        if (type != 0 && type != 's')
            return fmt_reason::type_does_not_fit_argument;
        conv = 's';
        left = shortest = true;
        break;
    case k_char:
        if (type != 0 && type != 'c')
            return fmt_reason::type_does_not_fit_argument;
        conv = 'c';
        left = true;
        break;
    case k_signed:
    case k_unsigned:
        if (type == 0 || type == 'd')
            conv = k == k_signed ? 'd' : 'u';
        else if (type == 'x' || type == 'X' || type == 'o' || type == 'c')
            conv = type;
        else if (type == 'b' || type == 'B')
            conv = k == k_signed ? 'd' : 'u', entry = true;
        else
            return fmt_reason::type_does_not_fit_argument;
        if (prec >= 0)
            return fmt_reason::precision_on_integer;
        if (sign && k == k_unsigned)
            return fmt_reason::sign_on_unsigned;
        /* fmt writes a sign and magnitude in any base, and 0x0 for #x of 0 */
        if ((conv == 'x' || conv == 'X' || conv == 'o') && (k == k_signed || sign || (hash && conv != 'o')))
            entry = true;
        break;
    case k_float:
        if (type == 'e' || type == 'E' || type == 'f' || type == 'F' || type == 'g' || type == 'G')
            conv = type;
        else if (type != 0)
            return fmt_reason::type_does_not_fit_argument;
        else if (prec >= 0)
            conv = 'g'; /* fmt's general format at that precision */
        else
            conv = 's', shortest = true;
        break;
    case k_pointer:
        if (type != 0 && type != 'p')
            return fmt_reason::type_does_not_fit_argument;
        conv = 's';
        shortest = true;
        break;
    }
    if ((conv == 's' || conv == 'c') && !shortest && (sign || hash || zero))
        return fmt_reason::sign_hash_or_zero_on_text;
    if (shortest && k != k_float && (sign || hash || zero || prec >= 0))
        return fmt_reason::shortest_float_takes_no_sign_hash_or_zero;
    if (k == k_float && ((width >= 0 && align == 0) || (hash && conv != 'e' && conv != 'E' && conv != 'f' && conv != 'F')))
        entry = true; /* fmt 9's: inf on the left with a width alone, a 0 after the point of 1. in general form */
    if (shortest && k == k_float && sign)
        entry = true; /* +2.5 */
    if (conv == 'c' && prec >= 0)
        return fmt_reason::precision_on_integer;

    out.put('%');
    if (entry) { /* the readers print it by the spec: the plain conversion for the type */
        if (shortest && k == k_float)
            conv = 'g';
    } else {
        if (width >= 0 && (align == '<' || (left && align == 0)))
            out.put('-');
        if (sign == '+' || sign == ' ')
            out.put(sign);
        if (hash && conv != 'd' && conv != 'u' && conv != 'c')
            out.put('#');
        if (zero && align == 0) /* fmt ignores 0 with an alignment */
            out.put('0');
        if (width >= 0)
            out.put_number(width);
        if (prec >= 0) {
            out.put('.');
            out.put_number(prec);
        }
    }
    if ((conv == 'd' || conv == 'u' || conv == 'x' || conv == 'X' || conv == 'o') && width_bytes == 8) {
        out.put('l');
        out.put('l');
    }
    out.put(conv);
    return fmt_reason::none;
}

/* Whether c may follow '%' in a chrono spec on a time point (tp) or a
 * duration (floating: of a floating-point count). */
constexpr bool fmt_chrono_letter(char c, bool tp, bool floating)
{
    const char *set = tp ? "YyCmdeHMSFTRDjaAbBhpIuw%nt" : floating ? "Qq%nt" : "QqHMSTR%nt";
    for (; *set; set++)
        if (*set == c)
            return true;
    return false;
}

/* A spec on a time point (tp) or a duration: [[fill]align][width][.precision]
 * then a chrono spec, text and %-conversions, as fmt takes them (a
 * precision: a floating duration's alone). */
constexpr fmt_reason fmt_chrono_spec(const char *s, size_t len, bool tp, bool floating)
{
    size_t i = 0;
    const size_t fill_len = fmt_fill_bytes(s[0]);
    if (len > fill_len && (s[fill_len] == '<' || s[fill_len] == '>' || s[fill_len] == '^'))
        i = fill_len + 1; /* any fill, a letter or % too */
    else if (len > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '^'))
        i = 1;
    if (i + 1 < len && s[i] == '{' && s[i + 1] == '}')
        i += 2;
    while (i < len && fmt_is_digit(s[i]))
        i++;
    if (i < len && s[i] == '.') {
        if (tp || !floating)
            return fmt_reason::precision_on_integer_duration_or_time_point;
        i++;
        if (i + 1 < len && s[i] == '{' && s[i + 1] == '}')
            i += 2;
        while (i < len && fmt_is_digit(s[i]))
            i++;
    }
    /* the rest is the chrono spec: text, and conversions we print */
    for (size_t k = i; k < len; k++)
        if (s[k] == '%' && (k + 1 >= len || !fmt_chrono_letter(s[++k], tp, floating)))
            return fmt_reason::chrono_spec_letter_unsupported;
    return fmt_reason::none;
}

/* Whether what follows a '%' is a printf conversion ("100% of {}" is text
 * in a {} format; a space flag is too rare to tell them apart by). */
constexpr bool fmt_printf_conversion(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == '-' || s[i] == '+' || s[i] == '#' || s[i] == '0' || s[i] == '\'' ||
                       s[i] == '.' || s[i] == '*' || s[i] == '$' || fmt_is_digit(s[i])))
        i++;
    while (i < len && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L' || s[i] == 'q' || s[i] == 'j' || s[i] == 'z' ||
                       s[i] == 't'))
        i++;
    if (i >= len)
        return false;
    for (const char *c = "diouxXcspfFeEgGaAnm"; *c; c++)
        if (s[i] == *c)
            return true;
    return false;
}

/* Whether what follows a '{' opens a spec ("{:", "{1:", "{px:"), whose %
 * belongs to a chrono spec; "{\"px\":%f}" is a printf format's text. */
constexpr bool fmt_spec_opens(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (fmt_is_digit(s[i]) || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
        i++;
    return i < len && s[i] == ':';
}

/* The name argument text t gives itself: "px" of shmlog::arg("px", v) or of
 * "px"_a = v (n bytes at *name); false for an argument with none. */
constexpr bool fmt_arg_name(const char *t, const char *&name, size_t &n)
{
    while (*t == ' ')
        t++;
    for (const char *p : {"::shmlog::arg(", "shmlog::arg(", "arg("}) {
        size_t k = 0;
        while (p[k] && t[k] == p[k])
            k++;
        if (!p[k]) {
            t += k;
            while (*t == ' ')
                t++;
            break;
        }
    }
    if (*t != '"')
        return false;
    name = ++t;
    for (n = 0; t[n] && t[n] != '"'; n++)
        if (!(fmt_is_digit(t[n]) || t[n] == '_' || (t[n] >= 'a' && t[n] <= 'z') || (t[n] >= 'A' && t[n] <= 'Z')))
            return false;
    return t[n] == '"' && n > 0;
}

/* Argument i's text (from 1) in a call's texts, each after a NUL: one literal a site, which GCC's parser
 * takes for a fifth of what an array of them cost it. */
constexpr const char *fmt_call_text(const char *texts, size_t i)
{
    for (; i; texts++)
        if (*texts == '\0')
            i--;
    return texts;
}

/* Where a format's next '%', '{' and '}' are, found by builtins both
 * compilers evaluate in one step, where a loop reading the characters costs
 * each thousands of instructions a character: Clang's strchr, each looked
 * for again only once passed; GCC's strcspn (which Clang does not evaluate;
 * GCC folds strchr of a pointer past a literal's start wrongly: GCC 12
 * gives f + from + the index from f). */
struct fmt_specials {
    static constexpr size_t none = ~size_t{0};
    const char *f;
    size_t end; /* what lies at or past it is no placeholder's */
    size_t pct, open, close; /* open and close: none when there is none */
    constexpr size_t find(char c, size_t from) const
    {
#ifdef __clang__
        const char *p = __builtin_strchr(f + from, c);
        const size_t at = p ? static_cast<size_t>(p - f) : end;
#else
        const size_t at = from + __builtin_strcspn(f + from, c == '%' ? "%" : c == '{' ? "{" : c == '}' ? "}" : ";");
#endif
        return at < end ? at : end;
    }
    /* the first '{' or '}' at or after from, none when there is none: no suffix has one, so Clang's
     * needs no test against end (find's own, and its choice of set, cost a {} site 0.25 M
     * instructions with Clang and 0.13 M with GCC) */
    constexpr size_t find_brace(char c, size_t from) const
    {
#ifdef __clang__
        const char *p = __builtin_strchr(f + from, c);
        return p ? static_cast<size_t>(p - f) : none;
#else
        const size_t at = from + __builtin_strcspn(f + from, c == '{' ? "{" : "}");
        return at < end ? at : none;
#endif
    }
    constexpr fmt_specials(const char *f_, size_t end_)
        : f(f_), end(end_), pct(find('%', 0)), open(find_brace('{', 0)), close(find_brace('}', 0))
    {
    }
    /* the first at or after from; end when none */
    constexpr size_t next(size_t from)
    {
#ifdef __clang__
        if (pct < from)
            pct = find('%', from);
        if (open < from)
            open = find_brace('{', from);
        if (close < from)
            close = find_brace('}', from);
        const size_t m = pct < open ? pct : open;
        return m < close ? m : close;
#else
        const size_t at = from + __builtin_strcspn(f + from, "%{}");
        return at < end ? at : end;
#endif
    }
};

/* Whether a format has a brace, which a {} format does: a printf format
 * without one is left as it is, and its site translates nothing. */
constexpr bool fmt_has_brace(const char *f)
{
    return __builtin_strchr(f, '{') != nullptr || __builtin_strchr(f, '}') != nullptr;
}

/* What the translation reads of an argument's type. */
struct fmt_arg_info {
    fmt_kind kind;
    size_t bytes;
    bool time_point;
    const char *unit; /* fmt_unit's */
    /* what a bare {} becomes, worked out once a type, as its code (fmt_translate_into): the
     * letter of its conversion, D and U for %lld and %llu; 0 where it takes more (a duration) */
    char bare;
    char fixed; /* what {:.2f} becomes, as its code: '.' on a plain floating-point number, else 0 */
};
constexpr fmt_arg_info fmt_arg_info_of(fmt_kind kind, size_t bytes, bool time_point, const char *unit)
{
    fmt_arg_info a{kind, bytes, time_point, unit, 0, 0};
    char conversion[8] = {};
    fmt_out out{conversion, 0};
    int dyn = 0;
    bool entry = false;
    if (!time_point && unit && !unit[0] &&
        fmt_conversion("", 0, kind, bytes, out, dyn, entry) == fmt_reason::none && !entry && !dyn) {
        const char letter = conversion[out.n - 1];
        a.bare = out.n == 2 ? letter : letter == 'd' ? 'D' : letter == 'u' ? 'U' : 0;
        a.fixed = kind == k_float && a.bare ? '.' : 0;
    }
    return a;
}
/* Per signature, once: the translation itself is no template, so that a
 * site's format costs its evaluation alone, not an instantiation of it. */
template <typename... A> struct fmt_args_of {
    static constexpr fmt_arg_info info[] = {fmt_arg_info{k_other, 0, false, "", 0, 0},
                                            fmt_arg_info_of(fmt_kind_of<A>(), sizeof(A), is_time_point<A>::value, fmt_unit<A>())...};
};

/* Where fmt_translate_into writes: the placeholders' conversions, a
 * fmt_site's descriptor and fields (its own: no copy of them afterwards,
 * which costs Clang's evaluator a step each). */
struct fmt_translation {
    char *text;
    char *desc;
    size_t &desc_len;
    bool &fmt_style;
    fmt_reason &error;
    int &at;
};

/* Format f (at most max bytes) of the nargs arguments args[1..], whose call
 * texts are those of fmt_call_text (read only with names): a {} format checked
 * and each placeholder's printf conversions written, as shmlog__fmt_expand
 * reads them when the site registers, with the text between them, which is
 * the format's own (each character the constant evaluator writes costs it
 * thousands of steps): a bare {}'s as one code, its letter (D: %lld, U:
 * %llu), a {:.2f}'s as '.' ('%' and its spec), any other's written out from
 * its '%', ended by a NUL. A printf format is left as it is (fmt_style false,
 * nothing written). */
constexpr void fmt_translate_into(fmt_translation &r, const char *f, size_t max, const fmt_arg_info *args, int nargs,
                                  const char *texts, bool names)
{
    /* a builtin: GCC folds it at once, where a loop costs thousands of its steps a character */
    const size_t whole = __builtin_strlen(f);
    const size_t len = whole < max ? whole : max;
    /* a rate-limited call's suffix is printf in either style */
    const size_t sl = sizeof fmt_suppressed - 1;
    const bool suffixed = len >= sl && __builtin_strcmp(f + len - sl, fmt_suppressed) == 0;
    const size_t end = suffixed ? len - sl : len;
    fmt_specials specials(f, end);
    const bool brace = specials.open < end || specials.close < end;
    /* A '%' alone (not of a %%) that starts a printf conversion, unless it is
     * a placeholder's (a chrono spec's): its '%' characters first, and only
     * when one starts a conversion, the placeholders around them. */
    bool conv = false;
    for (size_t i = specials.pct; !conv && i < end; i = specials.find('%', i + 1)) {
        if (i + 1 < end && f[i + 1] == '%')
            i++;
        else
            conv = fmt_printf_conversion(f + i + 1, end - i - 1);
    }
    if (conv) {
        conv = false;
        bool inside = false; /* in a placeholder, whose chrono spec's % is its own */
        for (size_t i = specials.next(0); !conv && i < end; i = specials.next(i + 1)) {
            const char c = f[i];
            const char next = i + 1 < end ? f[i + 1] : 0;
            if (c == '%' && next == '%')
                i++;
            else if (c == '%' && !inside)
                conv = fmt_printf_conversion(f + i + 1, end - i - 1);
            else if (c != '%')
                inside = c == '{' && fmt_spec_opens(f + i + 1, end - i - 1);
            if (c == '{' && next == '{')
                i++;
        }
        specials = fmt_specials(f, end); /* the scan may have passed them (Clang's next keeps positions) */
    }
    /* A printf conversion makes it printf, its braces literal: C++ printf
     * formats such as {"px":%f} compile as they always did, the site
     * registering the literal itself (site_strings::site). */
    if (!brace || conv)
        return;
    fmt_out out{r.text, 0};
    r.fmt_style = true;
    const int placeholders_args = nargs - (suffixed ? 1 : 0);
    int next = 0;
    bool named_seen = false, auto_seen = false, manual_seen = false;
    bool fast = !names; /* no names, no manual index: the placeholders' quick forms may apply */
    /* The placeholders, told by where the format's next '{' and '}' are, each looked for again
     * once passed (a '%' is text here: the scan above told a printf conversion apart). */
    size_t past = 0;
    for (size_t lbrace = specials.open, rbrace = specials.close; lbrace < end || rbrace < end;
         lbrace = specials.find_brace('{', past), rbrace = specials.find_brace('}', past)) {
        if (rbrace < lbrace) { /* a '}' of the text: only as "}}" */
            if (rbrace + 1 >= end || f[rbrace + 1] != '}') {
                r.error = fmt_reason::unmatched_brace;
                r.at = next + 1;
                return;
            }
            past = rbrace + 2;
            continue;
        }
        /* the placeholders first, the most of what comes here, told by their '}' alone: a bare {},
         * its type's conversion as the general case below would write it, as its code; {:.2f} on a
         * plain floating-point number, "%.2f", as '.' ('%' and the spec after the ':') */
        const char code = !fast || next >= placeholders_args ? 0
                          : rbrace == lbrace + 1 ? args[next + 1].bare
                          : rbrace == lbrace + 5 && f[lbrace + 1] == ':' && f[lbrace + 2] == '.' &&
                                    fmt_is_digit(f[lbrace + 3]) && fmt_float_letter(f[lbrace + 4])
                              ? args[next + 1].fixed
                              : 0;
        if (code) {
            ++next;
            auto_seen = true;
            out.p[out.n++] = code; /* written here: a call costs Clang's evaluator a frame */
            past = rbrace + 1;
            continue;
        }
        const size_t i = lbrace;
        if (i + 1 < end && f[i + 1] == '{') {
            past = i + 2;
            continue;
        }
        /* its '}', most often the next one; else read past a nested {} (a width or precision
         * from an argument) */
        size_t close = rbrace;
        if (close >= end || specials.find_brace('{', i + 1) < close) {
            close = i + 1;
            while (close < end && f[close] != '}' && !(f[close] == '{' && (close + 1 >= end || f[close + 1] != '}')))
                close += f[close] == '{' ? 2 : 1;
        }
        const int arg = ++next;
        r.at = arg;
        if (close >= end || f[close] != '}') {
            r.error = fmt_reason::unmatched_brace;
            return;
        }
        size_t spec = i + 1;
        const char *name = nullptr;
        size_t name_len = 0;
        const bool named = names && arg <= nargs && fmt_arg_name(fmt_call_text(texts, static_cast<size_t>(arg)), name, name_len);
        if (spec < close && (f[spec] == '_' || (f[spec] >= 'a' && f[spec] <= 'z') || (f[spec] >= 'A' && f[spec] <= 'Z'))) {
            /* {name}: the argument's own, in the arguments' order (the record keeps that order) */
            size_t k = spec;
            while (k < close && f[k] != ':')
                k++;
            bool same = named && name_len == k - spec;
            for (size_t at = 0; same && at < name_len; at++)
                same = name[at] == f[spec + at];
            if (!same) {
                r.error = fmt_reason::named_placeholder_not_the_next_named_argument;
                return;
            }
            spec = k;
            named_seen = true;
        } else if (named_seen && !(spec < close && fmt_is_digit(f[spec]))) {
            /* fmt's automatic index does not count named ones: it would take another argument */
            r.error = fmt_reason::automatic_placeholder_after_a_named_one;
            return;
        }
        const bool manual = !named && spec < close && fmt_is_digit(f[spec]);
        const bool automatic = !named && !manual;
        if ((manual && auto_seen) || (automatic && manual_seen)) {
            r.error = fmt_reason::automatic_and_manual_indexes_mixed; /* fmt refuses the switch */
            return;
        }
        auto_seen = auto_seen || automatic;
        manual_seen = manual_seen || manual;
        fast = fast && !manual;
        if (manual) {
            int index = 0;
            for (; spec < close && fmt_is_digit(f[spec]); spec++)
                index = index * 10 + (f[spec] - '0');
            if (index != arg - 1) {
                r.error = fmt_reason::positional_index_out_of_order;
                return;
            }
        }
        if (spec < close && f[spec] != ':') {
            r.error = fmt_reason::unmatched_brace;
            return;
        }
        if (arg > placeholders_args) {
            r.error = fmt_reason::no_argument_for_placeholder;
            return;
        }
        if (spec < close)
            spec++;
        if (specials.find(';', spec) < close) { /* it would end the descriptor's entry */
            r.error = fmt_reason::semicolon_in_spec_unsupported;
            return;
        }
        if (!args[arg].unit) {
            r.error = fmt_reason::duration_unit_unsupported;
            return;
        }
        if (args[arg].kind == k_struct && spec < close) {
            r.error = fmt_reason::spec_on_struct_unsupported;
            return;
        }
        int dyn = 0;
        bool entry = false;
        char what = args[arg].kind == k_char ? 'c' : 'v';
        if (args[arg].time_point || args[arg].unit[0]) { /* a time point always: fmt's text is not the readers' time */
            r.error = fmt_chrono_spec(f + spec, close - spec, args[arg].time_point, args[arg].kind == k_float);
            if (r.error != fmt_reason::none)
                return;
            entry = args[arg].time_point || spec < close;
            what = args[arg].time_point ? 't' : 'd';
            if (!entry && args[arg].kind == k_float) /* {} of a duration: its count as fmt 9 writes it, then the unit */
                out.put('%'), out.put('g');
            else if (!entry)
                r.error = fmt_conversion(f + spec, 0, args[arg].kind, args[arg].bytes, out, dyn, entry);
            else { /* the count's plain conversion */
                out.put('%');
                if (args[arg].kind == k_float) {
                    out.put('g');
                } else {
                    if (args[arg].bytes == 8)
                        out.put('l'), out.put('l');
                    out.put(args[arg].kind == k_signed ? 'd' : 'u');
                }
            }
            for (size_t k = spec; k + 1 < close; k++)
                if (f[k] == '{' && f[k + 1] == '}')
                    dyn |= f[k - 1] == '.' ? 2 : 1;
        } else {
            r.error = fmt_conversion(f + spec, close - spec, args[arg].kind, args[arg].bytes, out, dyn, entry);
            if (r.error != fmt_reason::none)
                return;
        }
        if (!entry) {
            for (const char *u = args[arg].unit; *u; u++)
                out.put(*u);
            out.put('\0');
            past = close + 1;
            continue;
        }
        if (dyn && (manual_seen || named_seen)) { /* a nested {} is automatic: fmt counts it apart */
            r.error = fmt_reason::automatic_and_manual_indexes_mixed;
            return;
        }
        /* "f<arg> <what>[<unit> ]<spec>", a {} of the spec naming its argument */
        fmt_out d{r.desc, r.desc_len};
        if (d.n)
            d.put(';');
        d.put('f');
        d.put_number(arg);
        d.put(' ');
        d.put(what);
        d.put(' ');
        if (what == 'd') {
            for (const char *u = args[arg].unit; *u; u++)
                d.put(*u);
            d.put(' ');
        }
        int taken = arg;
        for (size_t k = spec; k < close; k++) {
            if (f[k] != '{') {
                d.put(f[k]);
                continue;
            }
            if (++taken > placeholders_args) {
                r.error = fmt_reason::no_argument_for_placeholder;
                return;
            }
            if (args[taken].kind != k_signed && args[taken].kind != k_unsigned) {
                r.error = fmt_reason::width_or_precision_argument_not_an_integer;
                return;
            }
            d.put('{');
            d.put_number(taken);
            d.put('}');
            k++;
            /* the readers print nothing for it: fmt's order, the value then its width */
            out.put('%');
            if (args[taken].bytes == 8)
                out.put('l'), out.put('l');
            out.put(args[taken].kind == k_signed ? 'd' : 'u');
        }
        out.put('\0');
        r.desc_len = d.n;
        next = taken;
        past = close + 1;
    }
    if (next < placeholders_args) {
        r.error = fmt_reason::more_arguments_than_placeholders;
        r.at = next + 1;
        return;
    }
    r.at = 0;
}

/* The most a format of N bytes and n arguments writes of its descriptor, or
 * of conversions (its printf format's bytes, 2N + 16 + 8n at most, less its
 * text, and a NUL a placeholder), in steps of 64. */
constexpr size_t fmt_room(size_t N, size_t n) { return (2 * N + 16 + 9 * n + 63) / 64 * 64; }

/* A site's format checked, at compile time: whether it is a {} format, and
 * whether and why it was refused; what its registration makes its printf
 * format of (made: the literal; conversions right after it, as
 * shmlog__fmt_expand reads them); the site record's nargs. */
template <size_t N> struct fmt_site {
    struct shmlog__made_fmt made;
    char conversions[N];
    unsigned nargs;
    char desc[N]; /* the "f" entries of specs the readers print themselves */
    size_t desc_len;
    bool fmt_style;
    fmt_reason error;
    int at; /* the placeholder the error is about, from 1; 0: the whole format */
};
static_assert(offsetof(fmt_site<1>, conversions) == sizeof(shmlog__made_fmt), "the conversions follow the made_fmt");

/* The check of format f (N: its size) with arguments A (after a leading
 * void) whose call texts are those of fmt_call_text (read only with names),
 * for a site of nargs arguments in its record; Cap: the room of its
 * conversions and descriptor (fmt_room), not N, so that formats of near sizes
 * share one function. */
template <size_t Cap, typename Void, typename... A>
constexpr fmt_site<Cap> fmt_translate(const char *f, size_t N, const char *texts, bool names, unsigned nargs)
{
    fmt_site<Cap> r{{'\0', f}, {}, 0, {}, 0, false, fmt_reason::none, 0};
    fmt_translation t{r.conversions, r.desc, r.desc_len, r.fmt_style, r.error, r.at};
    fmt_translate_into(t, f, N, fmt_args_of<A...>::info, static_cast<int>(sizeof...(A)), texts, names);
    r.nargs = nargs | (r.fmt_style ? SHMLOG__SITE_MADE_FMT : 0u);
    return r;
}

/* A refused format is this one error; the compiler's note around it names
 * the placeholder and the reason: fmt_placeholder<2, ...::no_argument_for_placeholder>. */
template <int Placeholder, fmt_reason Why> struct fmt_placeholder {
    static_assert(Why == fmt_reason::none, "shmlog: this {} format does not fit its arguments: the note "
                                          "fmt_placeholder<N, reason> names the placeholder N (from 1; 0 is "
                                          "the whole format) and why");
    static constexpr bool ok = true;
};

/* ---- Described enums (SHMLOG_ENUM) ----
 *
 * SHMLOG_ENUM(Side, Buy, Sell) defines shmlog__describe_enum(Side), found by
 * argument-dependent lookup; a site with such arguments registers a
 * descriptor, "e<argument> <Type> <Name>=<value>,...", one entry per
 * described argument joined by ';', from which readers print the names; a
 * system_clock time point is "t<argument>", printed as the readers' times; a
 * std::optional is "o<argument> <its has-value argument>" (with its value's
 * entry, if any), printed as none when empty. */
struct enum_info {
    const char *type;
    const char *names; /* as the macro's arguments are written: "Buy, Sell" */
    long long values[48]; /* SHMLOG__ENUM_COUNT's bound */
    unsigned count;
};
void shmlog__describe_enum(); /* the name the lookup finds besides the users' */

template <typename T, typename = void> struct described_enum : std::false_type {};
template <typename T>
struct described_enum<T, decltype(void(shmlog__describe_enum(T{})))> : std::is_enum<T> {};

constexpr std::size_t text_length(const char *s)
{
    std::size_t n = 0;
    while (s[n])
        n++;
    return n;
}

template <std::size_t N> struct site_desc_text {
    char text[N];
    std::size_t len;
    constexpr void put(char c)
    {
        if (len + 1 < N)
            text[len++] = c;
    }
    constexpr void put_number(long long v)
    {
        unsigned long long u = v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
        char digits[20] = {};
        int k = 0;
        do
            digits[k++] = static_cast<char>('0' + u % 10);
        while (u /= 10);
        if (v < 0)
            put('-');
        while (k)
            put(digits[--k]);
    }
};

/* A member is a character by the placeholders' own rule, since its i8/u8 type
 * cannot tell char from int8_t. */
template <typename T> constexpr bool member_is_char()
{
    return fmt_kind_of<typename value_of<T>::type>() == k_char;
}

template <typename T> constexpr std::size_t tree_shape_bytes();
/* A pair's or tuple's shape bytes: its elements' and the parentheses, 0 when one has none (or it has no elements). */
template <typename T, std::size_t... I> constexpr std::size_t tuple_shape_bytes(std::index_sequence<I...>)
{
    constexpr std::size_t each[] = {tree_shape_bytes<typename std::tuple_element<I, T>::type>()..., 0};
    std::size_t sum = 2;
    for (std::size_t k = 0; k < sizeof...(I); k++)
        sum = each[k] && sum ? sum + each[k] : 0;
    return sizeof...(I) ? sum : 0;
}

/* A value tree's shape (format/FORMAT.md, 12: the "a" entry), from which
 * readers make typed columns: its bytes, 0 when a node has no one type (a
 * variant, a struct, an enum's name or number, a duration), whose field
 * stays its text. */
template <typename T> constexpr std::size_t tree_shape_bytes()
{
    typedef typename std::decay<T>::type D;
    if constexpr (has_codec<D>::value) {
        if constexpr (is_text<codec_value<D>>::value)
            return 1;
        else
            return tree_shape_bytes<codec_value<D>>();
    } else if constexpr (is_text<D>::value || is_wide_text<D>::value || is_path<D>::value ||
                         std::is_same<D, char>::value || std::is_same<D, char *>::value ||
                         std::is_same<D, const char *>::value) {
        return 1;
    } else if constexpr (std::is_arithmetic<D>::value) {
        return 1;
    } else if constexpr (is_optional_any<D>::value) {
        constexpr std::size_t n = tree_shape_bytes<typename D::value_type>();
        return n ? n + 1 : 0;
    } else if constexpr (is_map_like<D>::value) {
        constexpr std::size_t k = is_optional_any<typename std::decay<typename D::key_type>::type>::value
                                      ? 0 : tree_shape_bytes<typename D::key_type>();
        constexpr std::size_t v = tree_shape_bytes<typename D::mapped_type>();
        return k && v ? k + v + 2 : 0;
    } else if constexpr (is_range<D>::value) {
        constexpr std::size_t n = tree_shape_bytes<typename D::value_type>();
        return n ? n + 2 : 0;
    } else if constexpr (is_tuple_like<D>::value) {
        return tuple_shape_bytes<D>(std::make_index_sequence<std::tuple_size<D>::value>{});
    } else {
        return 0;
    }
}

template <typename T, std::size_t N> constexpr void tree_shape_put(site_desc_text<N> &d);
template <typename T, std::size_t N, std::size_t... I>
constexpr void tuple_shape_put(site_desc_text<N> &d, std::index_sequence<I...>)
{
    (tree_shape_put<typename std::tuple_element<I, T>::type>(d), ...);
}

/* The shape's letters (tree_shape_bytes() of them): a leaf's, its argument type's ("?bcChHiIlLfdps"). */
template <typename T, std::size_t N> constexpr void tree_shape_put(site_desc_text<N> &d)
{
    typedef typename std::decay<T>::type D;
    if constexpr (has_codec<D>::value) {
        if constexpr (is_text<codec_value<D>>::value)
            d.put('s');
        else
            tree_shape_put<codec_value<D>>(d);
    } else if constexpr (is_text<D>::value || is_wide_text<D>::value || is_path<D>::value ||
                         std::is_same<D, char>::value || std::is_same<D, char *>::value ||
                         std::is_same<D, const char *>::value) {
        d.put('s');
    } else if constexpr (std::is_arithmetic<D>::value) {
        d.put("?bcChHiIlLfdps"[arg_type<D>()]);
    } else if constexpr (is_optional_any<D>::value) {
        d.put('?');
        tree_shape_put<typename D::value_type>(d);
    } else if constexpr (is_map_like<D>::value) {
        d.put('{');
        tree_shape_put<typename D::key_type>(d);
        tree_shape_put<typename D::mapped_type>(d);
        d.put('}');
    } else if constexpr (is_range<D>::value) {
        d.put('[');
        tree_shape_put<typename D::value_type>(d);
        d.put(']');
    } else {
        d.put('(');
        tuple_shape_put<D>(d, std::make_index_sequence<std::tuple_size<D>::value>{});
        d.put(')');
    }
}

/* A tree that is a container, a pair or tuple, or an optional one, has a shape of its own; one
 * that is a leaf (a path, a wide string, a codec's text) prints as fmt does. */
template <typename T> constexpr bool tree_shape_container()
{
    typedef typename std::decay<T>::type D;
    if constexpr (has_codec<D>::value)
        return tree_shape_container<codec_value<D>>();
    else if constexpr (is_optional_any<D>::value)
        return tree_shape_container<typename D::value_type>();
    else
        return !is_text<D>::value && !is_wide_text<D>::value && !is_path<D>::value &&
               (is_range<D>::value || is_tuple_like<D>::value);
}

template <typename T> constexpr std::size_t desc_entry_bytes();
template <typename... M> constexpr std::size_t members_desc_bytes(type_list<void, M...>)
{
    return (std::size_t{0} + ... + (12 + desc_entry_bytes<M>() + (member_is_char<M>() ? 4 : 0)));
}
template <typename T> constexpr std::size_t desc_entry_bytes()
{
    if constexpr (tree_shape<T>::value) {
        return 8 + (tree_shape_bytes<T>() && tree_shape_container<T>() ? 9 + tree_shape_bytes<T>() : 0);
    } else if constexpr (is_optional<T>::value) {
        return 8 + desc_entry_bytes<typename T::value_type>();
    } else if constexpr (is_time_point<T>::value) {
        return 8;
    } else if constexpr (described_enum<T>::value) {
        constexpr enum_info e = shmlog__describe_enum(T{});
        return 8 + text_length(e.type) + text_length(e.names) + 22 * e.count;
    } else if constexpr (described_struct<T>::value) {
        constexpr struct_info s = shmlog__describe_struct(static_cast<const T *>(nullptr));
        return 8 + text_length(s.type) + text_length(s.names) + members_desc_bytes(struct_members<T>{});
    } else {
        return 0;
    }
}

template <typename T, std::size_t N> constexpr void desc_entry(site_desc_text<N> &d, unsigned arg, unsigned next);

/* An entry's start: ";<kind><arg>", then " <type> " when it names a type. */
template <std::size_t N> constexpr void desc_head(site_desc_text<N> &d, char kind, unsigned arg, const char *type)
{
    if (d.len)
        d.put(';');
    d.put(kind);
    d.put_number(arg);
    if (!type)
        return;
    d.put(' ');
    for (const char *t = type; *t; t++)
        d.put(*t);
    d.put(' ');
}

/* A SHMLOG_STRUCT's members from argument first on: "name=<argument>[unit],...",
 * then their own entries, and "c<argument>" for each that prints as a character. */
template <std::size_t N, typename... M>
constexpr void desc_members(site_desc_text<N> &d, const char *names, unsigned first, type_list<void, M...>)
{
    const unsigned at[] = {0u, (1u + tail_count<M>())...};
    const char *const units[] = {"", fmt_unit<M>()...};
    unsigned arg = first;
    for (unsigned k = 1; k < sizeof at / sizeof at[0]; k++) {
        while (*names == ' ' || *names == ',')
            names++;
        if (k > 1)
            d.put(',');
        while (*names && *names != ',' && *names != ' ')
            d.put(*names++);
        d.put('=');
        d.put_number(arg);
        for (const char *u = units[k] ? units[k] : ""; *u; u++)
            d.put(*u);
        arg += at[k];
    }
    arg = first;
    unsigned k = 1;
    ((desc_entry<M>(d, arg, arg + 1), member_is_char<M>() ? desc_head(d, 'c', arg, nullptr) : void(),
      arg += at[k++]),
     ...);
}

/* Argument arg's entries; next: the first argument its tail takes (tail_count). */
template <typename T, std::size_t N> constexpr void desc_entry(site_desc_text<N> &d, unsigned arg, unsigned next)
{
    if constexpr (tree_shape<T>::value) {
        desc_head(d, 'v', arg, nullptr);
        if constexpr (tree_shape_bytes<T>() != 0 && tree_shape_container<T>()) {
            desc_head(d, 'a', arg, nullptr);
            d.put(' ');
            tree_shape_put<T>(d);
        }
        (void)next;
    } else if constexpr (is_optional<T>::value) {
        desc_head(d, 'o', arg, nullptr);
        d.put(' ');
        d.put_number(next);
        desc_entry<typename T::value_type>(d, arg, next + 1);
    } else if constexpr (is_time_point<T>::value) {
        desc_head(d, 't', arg, nullptr);
    } else if constexpr (described_enum<T>::value) {
        constexpr enum_info e = shmlog__describe_enum(T{});
        desc_head(d, 'e', arg, e.type);
        const char *n = e.names;
        for (unsigned k = 0; k < e.count; k++) {
            while (*n == ' ' || *n == ',')
                n++;
            while (*n && *n != ',' && *n != ' ')
                d.put(*n++);
            d.put('=');
            d.put_number(e.values[k]);
            if (k + 1 < e.count)
                d.put(',');
        }
    } else if constexpr (described_struct<T>::value) {
        constexpr struct_info s = shmlog__describe_struct(static_cast<const T *>(nullptr));
        desc_head(d, 's', arg, s.type);
        desc_members(d, s.names, next, struct_members<T>{});
    } else {
        (void)d;
        (void)arg;
        (void)next;
    }
}

/* The descriptor of a call's arguments (the first type is void, before them). */
template <typename... A> constexpr std::size_t site_desc_bytes() { return 1 + (std::size_t{0} + ... + desc_entry_bytes<A>()); }
template <std::size_t N, typename... A> constexpr site_desc_text<N> site_desc()
{
    site_desc_text<N> d{};
    unsigned arg = 0, next = static_cast<unsigned>(sizeof...(A)); /* what the arguments add follows them */
    ((desc_entry<A>(d, arg++, next), next += tail_count<A>()), ...);
    return d;
}
/* Worked out once for all the sites of a signature; none when it is empty. */
template <typename... A> struct site_desc_of {
    static constexpr auto desc = site_desc<site_desc_bytes<A...>(), A...>();
    static constexpr const char *text = desc.len ? desc.text : nullptr;
};
/* The bytes of the "n<argument> <name>" entries of the named arguments among
 * the n call texts (fmt_call_text, fmt_arg_name). */
constexpr std::size_t site_names_bytes(const char *texts, bool names, std::size_t n)
{
    std::size_t bytes = 0;
    for (std::size_t i = 1; names && i <= n; i++) {
        const char *name = nullptr;
        std::size_t len = 0;
        if (fmt_arg_name(fmt_call_text(texts, i), name, len))
            bytes += len + 6;
    }
    return bytes;
}

/* A site's descriptor when it has its own entries: its signature's, then the
 * format's "f" entries (own, M bytes in all with the names' and a NUL), then
 * an "n" entry per named argument. */
template <std::size_t M, typename... A> struct site_desc_joined {
    char text[site_desc_bytes<A...>() + M + 1];
};
template <std::size_t M, typename... A>
constexpr site_desc_joined<M, A...> site_desc_join_of(const char *own, const char *texts, bool names)
{
    const auto &types = site_desc_of<A...>::desc;
    site_desc_joined<M, A...> j{};
    if (M == 1)
        return j;
    site_desc_text<sizeof j.text> d{};
    for (std::size_t i = 0; i < types.len; i++)
        d.put(types.text[i]);
    for (std::size_t i = 0; own[i]; i++) {
        if (i == 0 && d.len)
            d.put(';');
        d.put(own[i]);
    }
    for (std::size_t i = 1; names && i < sizeof...(A); i++) {
        const char *name = nullptr;
        std::size_t len = 0;
        if (!fmt_arg_name(fmt_call_text(texts, i), name, len))
            continue;
        desc_head(d, 'n', static_cast<unsigned>(i), nullptr);
        d.put(' ');
        for (std::size_t c = 0; c < len; c++)
            d.put(name[c]);
    }
    for (std::size_t i = 0; i < d.len; i++)
        j.text[i] = d.text[i];
    return j;
}
/* The descriptor of a site with no entries of its own: its signature's, worked out once for all its sites. */
struct site_desc_of_signature {
    const char *text;
};
template <std::size_t M, typename... A> struct site_desc_join {
    static constexpr site_desc_joined<M, A...> make(const char *own, const char *texts, bool names)
    {
        return site_desc_join_of<M, A...>(own, texts, names);
    }
};
template <typename... A> struct site_desc_join<1, A...> {
    static constexpr site_desc_of_signature make(const char *, const char *, bool) { return {site_desc_of<A...>::text}; }
};
/* A site's format of N bytes translated against its arguments R, and its
 * descriptor (M bytes of its own): members of its signature's class, which
 * the site names through call_args::strings (no deduction of R at each site),
 * not an expansion per argument at each site. The call texts are read for
 * names only where an argument is a named one (a flag, not a null pointer:
 * GCC's UBSan takes an array's address compared with 0 as not constant). */
template <typename... R> struct site_strings {
    template <std::size_t N, bool Braces> static constexpr auto format(const char *f, const char *texts)
    {
        if constexpr (Braces)
            return fmt_translate<fmt_room(N, sizeof...(R)), void, typename value_of<typename unnamed<R>::type>::type...>(
                f, N, texts, call_args<R...>::named, call_args<R...>::nargs);
        else if constexpr (call_args<R...>::named) /* a printf format whose descriptor names arguments */
            return fmt_site<2>{{}, {}, call_args<R...>::nargs, {}, 0, false, fmt_reason::none, 0};
        else /* a printf format: nothing of its own */
            return fmt_site<1>{{}, {}, call_args<R...>::nargs, {}, 0, false, fmt_reason::none, 0};
    }
    /* site_names_bytes, read only where an argument is a named one */
    static constexpr std::size_t names_bytes(const char *texts, std::size_t n)
    {
        return call_args<R...>::named ? site_names_bytes(texts, true, n) : 0;
    }
    template <std::size_t M> static constexpr auto desc(const char *own, const char *texts)
    {
        return site_desc_join<M, void, typename unnamed<R>::type...>::make(own, texts, call_args<R...>::named);
    }
    /* A site's static: its record, then the descriptor it points to (F, the
     * type of the format's static constant, whose translation it points to;
     * M, as desc's), made knowing its own address. */
    template <typename F, std::size_t M> struct site {
        struct shmlog__cxx_site record;
        decltype(desc<M>(nullptr, nullptr)) own_desc;
        static constexpr site make(const site *self, const F &fmt, const char *literal, const char *texts, int line,
                                   const char *file, const char *func)
        {
            site s{{fmt.nargs, line, file, func, fmt.fmt_style ? &fmt.made.none : literal, nullptr,
                    call_args<R...>::types},
                   desc<M>(fmt.desc, texts)};
            /* the signature's descriptor, or this site's own */
            if constexpr (M == 1)
                s.record.desc = s.own_desc.text;
            else
                s.record.desc = self->own_desc.text;
            return s;
        }
    };
    /* A printf format's site with no named argument (fmt_site<1>, format's): the record alone. */
    template <std::size_t M> struct site<const fmt_site<1>, M> {
        struct shmlog__cxx_site record;
        static constexpr site make(const site *, const fmt_site<1> &fmt, const char *literal, const char *, int line,
                                   const char *file, const char *func)
        {
            return {{fmt.nargs, line, file, func, literal, call_args<R...>::desc, call_args<R...>::types}};
        }
    };
};
} // namespace shmlog_detail

/* Once, at namespace scope, after the struct and after those of its members'
 * types: a value is logged as its members, printed as {id=7, px=2.5} and as a
 * JSON object. Public members only; at most 31, and a call's record holds 32
 * arguments in all (SHMLOG_MAX_ARGS), the struct's own counting one. */
#define SHMLOG_STRUCT(...) SHMLOG__CAT2(SHMLOG__STRUCT_, SHMLOG__FIT31(__VA_ARGS__))(__VA_ARGS__)
#define SHMLOG__STRUCT_FITS(Type, ...)                                                       \
    [[maybe_unused]] constexpr ::shmlog_detail::struct_info shmlog__describe_struct(const Type *) \
    {                                                                                        \
        return ::shmlog_detail::struct_info{#Type, #__VA_ARGS__, SHMLOG__NARGS(Type, __VA_ARGS__)}; \
    }                                                                                        \
    [[maybe_unused]] inline auto shmlog__struct_types(const Type *)                          \
    {                                                                                        \
        using shmlog__struct = Type;                                                         \
        return ::shmlog_detail::type_list<void SHMLOG__EACH(SHMLOG__STRUCT_TYPE, Type, __VA_ARGS__)>{}; \
    }                                                                                        \
    template <typename F> inline __attribute__((always_inline)) void shmlog__struct_each(const Type &shmlog__x, F &&shmlog__f) \
    {                                                                                        \
        SHMLOG__EACH(SHMLOG__STRUCT_VISIT, Type, __VA_ARGS__)                                \
    }                                                                                        \
    static_assert(::std::is_class<Type>::value, "shmlog: SHMLOG_STRUCT describes a struct or class type")
#define SHMLOG__STRUCT_TYPE(i, x) , typename ::std::decay<decltype(shmlog__struct::x)>::type
#define SHMLOG__STRUCT_VISIT(i, x) shmlog__f(shmlog__x.x);
/* Too many: the one error, and the type described with no members so that its uses add none. */
#define SHMLOG__STRUCT_TOO_MANY(Type, ...)                                                   \
    [[maybe_unused]] constexpr ::shmlog_detail::struct_info shmlog__describe_struct(const Type *) \
    {                                                                                        \
        return ::shmlog_detail::struct_info{#Type, "", 0};                                   \
    }                                                                                        \
    [[maybe_unused]] inline ::shmlog_detail::type_list<void> shmlog__struct_types(const Type *) { return {}; } \
    template <typename F> inline void shmlog__struct_each(const Type &, F &&) {}             \
    static_assert(sizeof(Type) == 0, "shmlog: SHMLOG_STRUCT takes at most 31 members: a record holds 32 " \
                                     "arguments (SHMLOG_MAX_ARGS), the struct's own counting one")

/* SHMLOG__ENUM_EACH_<n>(M, a1..an): M(a1) ... M(an), for an enum's names
 * (SHMLOG__ENUM_COUNT counts them after the type: 1 .. 48, or TOO_MANY). */
#define SHMLOG__ENUM_COUNT(...) SHMLOG__PICK64(__VA_ARGS__, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, \
    TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY, 48, \
    47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, \
    21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, ~)
#define SHMLOG__ENUM_EACH_0(M, ...)
#define SHMLOG__ENUM_EACH_1(M, a1) M(a1)
#define SHMLOG__ENUM_EACH_2(M, a1, a2) \
    SHMLOG__ENUM_EACH_1(M, a1) M(a2)
#define SHMLOG__ENUM_EACH_3(M, a1, a2, a3) \
    SHMLOG__ENUM_EACH_2(M, a1, a2) M(a3)
#define SHMLOG__ENUM_EACH_4(M, a1, a2, a3, a4) \
    SHMLOG__ENUM_EACH_3(M, a1, a2, a3) M(a4)
#define SHMLOG__ENUM_EACH_5(M, a1, a2, a3, a4, a5) \
    SHMLOG__ENUM_EACH_4(M, a1, a2, a3, a4) M(a5)
#define SHMLOG__ENUM_EACH_6(M, a1, a2, a3, a4, a5, a6) \
    SHMLOG__ENUM_EACH_5(M, a1, a2, a3, a4, a5) M(a6)
#define SHMLOG__ENUM_EACH_7(M, a1, a2, a3, a4, a5, a6, a7) \
    SHMLOG__ENUM_EACH_6(M, a1, a2, a3, a4, a5, a6) M(a7)
#define SHMLOG__ENUM_EACH_8(M, a1, a2, a3, a4, a5, a6, a7, a8) \
    SHMLOG__ENUM_EACH_7(M, a1, a2, a3, a4, a5, a6, a7) M(a8)
#define SHMLOG__ENUM_EACH_9(M, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
    SHMLOG__ENUM_EACH_8(M, a1, a2, a3, a4, a5, a6, a7, a8) M(a9)
#define SHMLOG__ENUM_EACH_10(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) \
    SHMLOG__ENUM_EACH_9(M, a1, a2, a3, a4, a5, a6, a7, a8, a9) M(a10)
#define SHMLOG__ENUM_EACH_11(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
    SHMLOG__ENUM_EACH_10(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) M(a11)
#define SHMLOG__ENUM_EACH_12(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) \
    SHMLOG__ENUM_EACH_11(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) M(a12)
#define SHMLOG__ENUM_EACH_13(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) \
    SHMLOG__ENUM_EACH_12(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) M(a13)
#define SHMLOG__ENUM_EACH_14(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) \
    SHMLOG__ENUM_EACH_13(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) M(a14)
#define SHMLOG__ENUM_EACH_15(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
    SHMLOG__ENUM_EACH_14(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) M(a15)
#define SHMLOG__ENUM_EACH_16(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) \
    SHMLOG__ENUM_EACH_15(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) M(a16)
#define SHMLOG__ENUM_EACH_17(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) \
    SHMLOG__ENUM_EACH_16(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) M(a17)
#define SHMLOG__ENUM_EACH_18(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) \
    SHMLOG__ENUM_EACH_17(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) M(a18)
#define SHMLOG__ENUM_EACH_19(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) \
    SHMLOG__ENUM_EACH_18(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) M(a19)
#define SHMLOG__ENUM_EACH_20(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) \
    SHMLOG__ENUM_EACH_19(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) M(a20)
#define SHMLOG__ENUM_EACH_21(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) \
    SHMLOG__ENUM_EACH_20(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) M(a21)
#define SHMLOG__ENUM_EACH_22(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) \
    SHMLOG__ENUM_EACH_21(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) M(a22)
#define SHMLOG__ENUM_EACH_23(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) \
    SHMLOG__ENUM_EACH_22(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) M(a23)
#define SHMLOG__ENUM_EACH_24(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24) \
    SHMLOG__ENUM_EACH_23(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) M(a24)
#define SHMLOG__ENUM_EACH_25(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25) \
    SHMLOG__ENUM_EACH_24(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24) M(a25)
#define SHMLOG__ENUM_EACH_26(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) \
    SHMLOG__ENUM_EACH_25(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25) M(a26)
#define SHMLOG__ENUM_EACH_27(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) \
    SHMLOG__ENUM_EACH_26(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26) M(a27)
#define SHMLOG__ENUM_EACH_28(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) \
    SHMLOG__ENUM_EACH_27(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27) M(a28)
#define SHMLOG__ENUM_EACH_29(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) \
    SHMLOG__ENUM_EACH_28(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28) M(a29)
#define SHMLOG__ENUM_EACH_30(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) \
    SHMLOG__ENUM_EACH_29(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29) M(a30)
#define SHMLOG__ENUM_EACH_31(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) \
    SHMLOG__ENUM_EACH_30(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30) M(a31)
#define SHMLOG__ENUM_EACH_32(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32) \
    SHMLOG__ENUM_EACH_31(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31) M(a32)
#define SHMLOG__ENUM_EACH_33(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33) \
    SHMLOG__ENUM_EACH_32(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32) M(a33)
#define SHMLOG__ENUM_EACH_34(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34) \
    SHMLOG__ENUM_EACH_33(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33) M(a34)
#define SHMLOG__ENUM_EACH_35(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35) \
    SHMLOG__ENUM_EACH_34(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34) M(a35)
#define SHMLOG__ENUM_EACH_36(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36) \
    SHMLOG__ENUM_EACH_35(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35) M(a36)
#define SHMLOG__ENUM_EACH_37(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37) \
    SHMLOG__ENUM_EACH_36(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36) M(a37)
#define SHMLOG__ENUM_EACH_38(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38) \
    SHMLOG__ENUM_EACH_37(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37) M(a38)
#define SHMLOG__ENUM_EACH_39(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39) \
    SHMLOG__ENUM_EACH_38(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38) M(a39)
#define SHMLOG__ENUM_EACH_40(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40) \
    SHMLOG__ENUM_EACH_39(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39) M(a40)
#define SHMLOG__ENUM_EACH_41(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41) \
    SHMLOG__ENUM_EACH_40(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40) M(a41)
#define SHMLOG__ENUM_EACH_42(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42) \
    SHMLOG__ENUM_EACH_41(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41) M(a42)
#define SHMLOG__ENUM_EACH_43(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43) \
    SHMLOG__ENUM_EACH_42(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42) M(a43)
#define SHMLOG__ENUM_EACH_44(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44) \
    SHMLOG__ENUM_EACH_43(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43) M(a44)
#define SHMLOG__ENUM_EACH_45(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45) \
    SHMLOG__ENUM_EACH_44(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44) M(a45)
#define SHMLOG__ENUM_EACH_46(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45, a46) \
    SHMLOG__ENUM_EACH_45(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45) M(a46)
#define SHMLOG__ENUM_EACH_47(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45, a46, a47) \
    SHMLOG__ENUM_EACH_46(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45, a46) M(a47)
#define SHMLOG__ENUM_EACH_48(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45, a46, a47, a48) \
    SHMLOG__ENUM_EACH_47(M, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37, a38, a39, a40, a41, a42, a43, a44, a45, a46, a47) M(a48)

/* Once, at namespace scope, after the enum: its values print as their names
 * (in text and in JSON messages; a value outside the list as its number).
 * At most 48 names. */
#define SHMLOG_ENUM(...) SHMLOG__ENUM_OF(SHMLOG__ENUM_COUNT(__VA_ARGS__), __VA_ARGS__)
#define SHMLOG__ENUM_OF(n, ...) SHMLOG__CAT2(SHMLOG__ENUM_, SHMLOG__CAT2(SHMLOG__ENUM_FIT_, n))(n, __VA_ARGS__)
#define SHMLOG__ENUM_FIT_TOO_MANY TOO_MANY
#define SHMLOG__ENUM_FIT_0 FITS
#define SHMLOG__ENUM_FIT_1 FITS
#define SHMLOG__ENUM_FIT_2 FITS
#define SHMLOG__ENUM_FIT_3 FITS
#define SHMLOG__ENUM_FIT_4 FITS
#define SHMLOG__ENUM_FIT_5 FITS
#define SHMLOG__ENUM_FIT_6 FITS
#define SHMLOG__ENUM_FIT_7 FITS
#define SHMLOG__ENUM_FIT_8 FITS
#define SHMLOG__ENUM_FIT_9 FITS
#define SHMLOG__ENUM_FIT_10 FITS
#define SHMLOG__ENUM_FIT_11 FITS
#define SHMLOG__ENUM_FIT_12 FITS
#define SHMLOG__ENUM_FIT_13 FITS
#define SHMLOG__ENUM_FIT_14 FITS
#define SHMLOG__ENUM_FIT_15 FITS
#define SHMLOG__ENUM_FIT_16 FITS
#define SHMLOG__ENUM_FIT_17 FITS
#define SHMLOG__ENUM_FIT_18 FITS
#define SHMLOG__ENUM_FIT_19 FITS
#define SHMLOG__ENUM_FIT_20 FITS
#define SHMLOG__ENUM_FIT_21 FITS
#define SHMLOG__ENUM_FIT_22 FITS
#define SHMLOG__ENUM_FIT_23 FITS
#define SHMLOG__ENUM_FIT_24 FITS
#define SHMLOG__ENUM_FIT_25 FITS
#define SHMLOG__ENUM_FIT_26 FITS
#define SHMLOG__ENUM_FIT_27 FITS
#define SHMLOG__ENUM_FIT_28 FITS
#define SHMLOG__ENUM_FIT_29 FITS
#define SHMLOG__ENUM_FIT_30 FITS
#define SHMLOG__ENUM_FIT_31 FITS
#define SHMLOG__ENUM_FIT_32 FITS
#define SHMLOG__ENUM_FIT_33 FITS
#define SHMLOG__ENUM_FIT_34 FITS
#define SHMLOG__ENUM_FIT_35 FITS
#define SHMLOG__ENUM_FIT_36 FITS
#define SHMLOG__ENUM_FIT_37 FITS
#define SHMLOG__ENUM_FIT_38 FITS
#define SHMLOG__ENUM_FIT_39 FITS
#define SHMLOG__ENUM_FIT_40 FITS
#define SHMLOG__ENUM_FIT_41 FITS
#define SHMLOG__ENUM_FIT_42 FITS
#define SHMLOG__ENUM_FIT_43 FITS
#define SHMLOG__ENUM_FIT_44 FITS
#define SHMLOG__ENUM_FIT_45 FITS
#define SHMLOG__ENUM_FIT_46 FITS
#define SHMLOG__ENUM_FIT_47 FITS
#define SHMLOG__ENUM_FIT_48 FITS
#define SHMLOG__ENUM_FITS(n, Type, ...)                                                         \
    [[maybe_unused]] constexpr ::shmlog_detail::enum_info shmlog__describe_enum(Type)       \
    {                                                                                        \
        using shmlog__enum = Type;                                                           \
        /* a misspelt name is one error: in this initialiser, not again in the return */   \
        constexpr ::shmlog_detail::enum_info shmlog__info{#Type, #__VA_ARGS__,               \
                                          {SHMLOG__CAT2(SHMLOG__ENUM_EACH_, n)(SHMLOG__ENUM_VALUE, __VA_ARGS__)}, \
                                          n};                                                \
        return shmlog__info;                                                                 \
    }                                                                                        \
    static_assert(::std::is_enum<Type>::value, "shmlog: SHMLOG_ENUM describes an enum type")
#define SHMLOG__ENUM_VALUE(x) static_cast<long long>(shmlog__enum::x),
#define SHMLOG__ENUM_TOO_MANY(n, Type, ...) \
    static_assert(sizeof(Type) == 0, "shmlog: SHMLOG_ENUM takes at most 48 names (SHMLOG__ENUM_COUNT in " \
                                     "shmlog.h; a value outside the list prints as its number)")

/* The site's format, checked against the argument types and translated. A
 * format that is not a literal is the literal check's error alone. */
#define SHMLOG__FMT_DECL(n, ...)                                                             \
    constexpr const char *shmlog__texts = "" SHMLOG__EACH_N(n, SHMLOG__A_TEXT, __VA_ARGS__);    \
    constexpr const char *shmlog__literal = SHMLOG__CXX_LITERAL(SHMLOG__FIRST(__VA_ARGS__));     \
    static constexpr auto shmlog__fmt = shmlog__args::strings::template format<sizeof(SHMLOG__FIRST(__VA_ARGS__)), \
        shmlog_detail::fmt_has_brace(shmlog__literal)>(shmlog__literal, shmlog__texts);         \
    static_assert(shmlog_detail::fmt_placeholder<shmlog__fmt.at, shmlog__fmt.error>::ok, "");
#define SHMLOG__A_TEXT(i, x) "\0" #x
/* The format if it is a literal, "" if not (whose error is the literal check's alone): tested once a
 * site, as GCC's parser spends 0.07 M instructions on each such conditional. */
#define SHMLOG__CXX_LITERAL(fmt) (__builtin_constant_p(fmt) ? (fmt) : "")
/* The site's record and the descriptor it points to one static (site_strings::site), and the texts and
 * literal no statics: Clang names each static by the enclosing function's whole signature (three a site
 * where there were six). */
#define SHMLOG__SITE_DECL(n, levels, ...)                                                    \
    typedef typename shmlog__args::strings::template site<                                   \
        decltype(shmlog__fmt), shmlog__fmt.desc_len + 1 + shmlog__args::strings::names_bytes(shmlog__texts, n)> \
        shmlog__site_t;                                                                      \
    static constexpr shmlog__site_t shmlog__site = shmlog__site_t::make(&shmlog__site, shmlog__fmt, shmlog__literal, \
                                                                        shmlog__texts, __LINE__, __FILE__, __func__);
