/* A class with private members, given its text once as Quill's codecs and fmt::formatter do. */
class ProbeBook {
  public:
    ProbeBook(long bid, long ask) : bid_(bid), ask_(ask) {}

  private:
    long bid_, ask_;
    friend struct shmlog_codec<ProbeBook>;
    friend struct fmt::formatter<ProbeBook>;
};
template <> struct shmlog_codec<ProbeBook> {
    static std::string value(const ProbeBook &b) { return fmt::format("{}x{}", b.bid_, b.ask_); }
};
template <> struct fmt::formatter<ProbeBook> : fmt::formatter<std::string> {
    auto format(const ProbeBook &b, fmt::format_context &ctx) const
    {
        return fmt::formatter<std::string>::format(fmt::format("{}x{}", b.bid_, b.ask_), ctx);
    }
};
static void PROBE_FN() { BOTH("book={}", ProbeBook(101, 102)); }
