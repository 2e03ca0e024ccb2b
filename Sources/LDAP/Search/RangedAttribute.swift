/// An attribute description carrying a range option, as Active Directory returns a large
/// multi-valued attribute: `member;range=0-1499`, then `member;range=1500-*` for the last part.
public struct RangedAttribute: Equatable, Sendable {
    /// The description without the range option (`member`, or `member;binary`).
    public let baseName: String
    /// First value index in this part.
    public let low: Int
    /// Last value index in this part; nil for `*` (this is the last part).
    public let high: Int?

    /// Parses `type;opt;range=low-high`; nil if the description has no range option.
    public init?(_ description: String) {
        let parts = description.split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return nil }
        var others: [Substring] = []
        var range: (Int, Int?)?
        for part in parts.dropFirst() {
            if part.lowercased().hasPrefix("range="), range == nil {
                let spec = part.dropFirst("range=".count)
                let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                guard bounds.count == 2, let low = Int(bounds[0]), low >= 0 else { return nil }
                if bounds[1] == "*" {
                    range = (low, nil)
                } else if let high = Int(bounds[1]), high >= low {
                    range = (low, high)
                } else {
                    return nil
                }
            } else {
                others.append(part)
            }
        }
        guard let (low, high) = range else { return nil }
        self.baseName = ([parts[0]] + others).joined(separator: ";")
        self.low = low
        self.high = high
    }

    /// The description to ask for the part after this one; nil when this is the last part.
    public var nextRequest: String? {
        guard let high else { return nil }
        return "\(baseName);range=\(high + 1)-*"
    }
}
