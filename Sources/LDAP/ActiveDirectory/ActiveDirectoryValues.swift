import Foundation

/// Object identifiers Active Directory uses.
public enum ActiveDirectoryOIDs {
    /// LDAP_MATCHING_RULE_IN_CHAIN: membership through any depth of nesting.
    public static let matchingRuleInChain = "1.2.840.113556.1.4.1941"
    /// LDAP_MATCHING_RULE_BIT_AND.
    public static let matchingRuleBitAnd = "1.2.840.113556.1.4.803"
    /// LDAP_MATCHING_RULE_BIT_OR.
    public static let matchingRuleBitOr = "1.2.840.113556.1.4.804"
    /// LDAP_CAP_ACTIVE_DIRECTORY_OID, in the root DSE's supportedCapabilities.
    public static let capabilityActiveDirectory = "1.2.840.113556.1.4.800"
    /// LDAP_CAP_ACTIVE_DIRECTORY_ADAM_OID (AD LDS).
    public static let capabilityADLDS = "1.2.840.113556.1.4.1851"
    /// The paged results control (RFC 2696).
    public static let pagedResultsControl = "1.2.840.113556.1.4.319"
}

/// Decoding of Active Directory's binary and time values.
public enum ADValue {
    /// objectGUID as text in the usual form (`f462e9f1-0e4c-4c85-8f2f-5a6fd0e0b1a2`, lowercase).
    /// AD stores the first three fields little-endian (Microsoft's GUID layout), the rest as is.
    public static func guidString(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 16 else { return nil }
        let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        var hex = ""
        for (n, i) in order.enumerated() {
            if n == 4 || n == 6 || n == 8 || n == 10 { hex += "-" }
            hex += String(format: "%02x", bytes[i])
        }
        return hex
    }

    /// The 16 bytes of a GUID given as text, in AD's layout (for a filter on objectGUID).
    public static func guidBytes(_ text: String) -> [UInt8]? {
        let hex = text.replacingOccurrences(of: "-", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "{}"))
        guard hex.count == 32 else { return nil }
        var raw: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            raw.append(byte)
            index = next
        }
        let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        return order.map { raw[$0] }
    }

    /// objectSid as text (`S-1-5-21-3623811015-3361044348-30300820-1013`).
    /// Layout: revision, sub-authority count, 48-bit big-endian authority, then 32-bit
    /// little-endian sub-authorities.
    public static func sidString(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 8 else { return nil }
        let count = Int(bytes[1])
        guard bytes.count == 8 + 4 * count else { return nil }
        var authority: UInt64 = 0
        for i in 2..<8 { authority = authority << 8 | UInt64(bytes[i]) }
        var text = "S-\(bytes[0])-\(authority)"
        for n in 0..<count {
            let o = 8 + 4 * n
            let value = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            text += "-\(value)"
        }
        return text
    }

    /// The binary form of a SID given as text.
    public static func sidBytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: "-")
        guard parts.count >= 3, parts[0].uppercased() == "S", let revision = UInt8(parts[1]),
              let authority = UInt64(parts[2]), authority < 1 << 48 else { return nil }
        let subs = parts.dropFirst(3).compactMap { UInt32($0) }
        guard subs.count == parts.count - 3, subs.count <= 255 else { return nil }
        var bytes: [UInt8] = [revision, UInt8(subs.count)]
        for shift in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8((authority >> UInt64(shift)) & 0xff)) }
        for sub in subs {
            bytes += [UInt8(sub & 0xff), UInt8(sub >> 8 & 0xff), UInt8(sub >> 16 & 0xff), UInt8(sub >> 24 & 0xff)]
        }
        return bytes
    }

    /// A FILETIME (100-nanosecond intervals since 1601-01-01 UTC), as in `lastLogonTimestamp`,
    /// `pwdLastSet` and `accountExpires`. 0 and 0x7FFFFFFFFFFFFFFF mean "never": nil.
    public static func date(fileTime: Int64) -> Date? {
        guard fileTime > 0, fileTime != Int64.max else { return nil }
        let secondsFrom1601To1970: Int64 = 11_644_473_600
        let seconds = Double(fileTime / 10_000_000 - secondsFrom1601To1970)
        let fraction = Double(fileTime % 10_000_000) / 10_000_000
        return Date(timeIntervalSince1970: seconds + fraction)
    }

    /// A FILETIME given as decimal text, as AD sends it.
    public static func date(fileTime text: String) -> Date? {
        Int64(text.trimmingCharacters(in: .whitespaces)).flatMap { date(fileTime: $0) }
    }

    /// A GeneralizedTime (RFC 4517 §3.3.13), as in `whenCreated` or `modifyTimestamp`:
    /// `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|±HH[MM])`.
    public static func date(generalizedTime text: String) -> Date? {
        let chars = Array(text)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= chars.count else { return nil }
            var value = 0
            for c in chars[i..<(i + digits)] {
                guard let d = c.wholeNumberValue, c.isASCII else { return nil }
                value = value * 10 + d
            }
            i += digits
            return value
        }
        guard let year = number(4), let month = number(2), let day = number(2), let hour = number(2),
              (1...12).contains(month), (1...31).contains(day), hour < 24 else { return nil }
        var minute = 0, second = 0
        var fraction = 0.0
        var fractionUnit = 3600.0 // a fraction after the hour is a fraction of an hour
        if i < chars.count, chars[i].isNumber {
            guard let m = number(2), m < 60 else { return nil }
            minute = m
            fractionUnit = 60
            if i < chars.count, chars[i].isNumber {
                guard let s = number(2), s <= 60 else { return nil }
                second = s
                fractionUnit = 1
            }
        }
        if i < chars.count, chars[i] == "." || chars[i] == "," {
            i += 1
            var digits = ""
            while i < chars.count, chars[i].isNumber, chars[i].isASCII { digits.append(chars[i]); i += 1 }
            guard !digits.isEmpty, let f = Double("0." + digits) else { return nil }
            fraction = f * fractionUnit
        }
        var offset = 0
        guard i < chars.count else { return nil } // local time without zone: ambiguous
        if chars[i] == "Z" {
            i += 1
        } else if chars[i] == "+" || chars[i] == "-" {
            let sign = chars[i] == "-" ? -1 : 1
            i += 1
            guard let oh = number(2) else { return nil }
            let om = i < chars.count ? (number(2) ?? -1) : 0
            guard om >= 0, oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == chars.count else { return nil }
        var components = DateComponents()
        components.calendar = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(identifier: "UTC")
        components.year = year
        components.month = month
        components.day = day
        components.hour = hour
        components.minute = minute
        components.second = second
        guard let date = components.date else { return nil }
        return date.addingTimeInterval(fraction - Double(offset))
    }

    /// userAccountControl bit ACCOUNTDISABLE.
    public static let accountDisabledFlag = 0x2

    /// Whether a userAccountControl value marks the account disabled.
    public static func isDisabled(userAccountControl text: String) -> Bool? {
        Int(text.trimmingCharacters(in: .whitespaces)).map { $0 & accountDisabledFlag != 0 }
    }
}

extension LDAPValue {
    /// The value decoded as an AD objectGUID (lowercase text), or nil if it is not 16 bytes.
    public var guidString: String? { ADValue.guidString(bytes) }
    /// The value decoded as an AD objectSid (`S-1-5-…`).
    public var sidString: String? { ADValue.sidString(bytes) }
    /// The value as a GeneralizedTime.
    public var generalizedTime: Date? { string.flatMap(ADValue.date(generalizedTime:)) }
    /// The value as a FILETIME given in decimal.
    public var fileTime: Date? { string.flatMap(ADValue.date(fileTime:)) }
}
