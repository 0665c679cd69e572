/// Parses durations such as `500ms`, `10s`, `1m30s`, `1h` (units ms, s, m, h;
/// each number an integer or decimal; at least one number+unit pair).
public enum DurationParser {
    /// Longer durations (about 31 years) are refused.
    static let limitSeconds: Double = 1e9

    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        var total = Duration.zero
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            let seconds = value * scale
            guard seconds < limitSeconds else { return nil }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
            // The whole, not only each term: what `format` writes must parse back.
            guard total < .seconds(limitSeconds) else { return nil }
        }
        return total
    }

    /// Formats as the parser reads it: `1m30s`, `250ms`.
    public static func format(_ duration: Duration) -> String {
        var ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if ms == 0 { return "0s" }
        var out = ""
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms >= size {
            out += "\(ms / size)\(unit)"
            ms %= size
        }
        if ms > 0 { out += "\(ms)ms" }
        return out
    }
}
