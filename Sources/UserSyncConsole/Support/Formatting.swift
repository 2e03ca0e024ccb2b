import Foundation
import Hummingbird
import UserSync

/// How the pages write times, durations and links.
enum Formatting {
    /// A store time (`2026-12-04T07:21:35.123Z`) as `2026-12-04 07:21:35`.
    static func time(_ text: String?) -> String? {
        guard let text else { return nil }
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    static func time(_ date: Date?) -> String? {
        guard let date else { return nil }
        return time(date.ISO8601Format())
    }

    static func duration(_ seconds: Double?) -> String? {
        guard let seconds else { return nil }
        return seconds < 10 ? String(format: "%.2f s", seconds) : seconds < 120 ? String(format: "%.0f s", seconds)
            : String(format: "%.0f min", seconds / 60)
    }

    /// A query string of the non-empty values, percent-encoded.
    static func query(_ items: [(String, String?)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let parts = items.compactMap { key, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return key + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    /// A path segment, percent-encoded.
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Previous and next links of a paged list.
struct Pager {
    var page: Int
    var previous: String?
    var next: String?
    var shown: Bool

    /// `rows` holds up to one more than a page: that one says there is a next page.
    init(page: Int, hasMore: Bool, link: (Int) -> String) {
        self.page = page
        previous = page > 1 ? link(page - 1) : nil
        next = hasMore ? link(page + 1) : nil
        shown = previous != nil || next != nil
    }
}

extension Request {
    /// A query parameter; nil when absent or empty (a form's "any" choice).
    func parameter(_ name: String) -> String? {
        uri.queryParameters.get(name).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `page`, from 1.
    var pageNumber: Int { max(parameter("page").flatMap { Int($0) } ?? 1, 1) }
}
