import Foundation
import LDAP
import Logging

/// Any JSON API: the records at a JSON pointer of each page, the pages followed by a next-link
/// field, a `Link: rel="next"` header, or page/offset parameters. A record's locator is its
/// stable id (`id=42`).
public struct JSONSource: RecordSource {
    public let settings: SourceSettings
    /// The endpoint and paging part of `settings`.
    public let endpoint: RESTSourceSettings
    public var limit: Int?
    public var logger: Logger

    public init(settings: SourceSettings, endpoint: RESTSourceSettings, limit: Int? = nil,
                logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.endpoint = endpoint
        self.limit = limit
        self.logger = logger
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let records = try JSONRecords(attributes: attributes)
        let rest = endpoint.rest
        let idPath = try JSONRecords(attributes: [settings.stableID]).paths[0].path
        let idName = settings.stableID
        try await HTTPFetcher.with(endpoint.http, logger: logger) { fetcher in
            var url = endpoint.http.url
            var pageNumber = 0
            var offset = 0
            switch rest.paging {
            case .page(let parameter, let start, let sizeParameter):
                pageNumber = start
                url = URLText.adding([(parameter, "\(start)")] + (sizeParameter.map { [($0, "\(rest.pageSize)")] } ?? []), to: endpoint.http.url)
            case .offset(let parameter, let limitParameter):
                url = URLText.adding([(parameter, "0")] + (limitParameter.map { [($0, "\(rest.pageSize)")] } ?? []), to: endpoint.http.url)
            default:
                break
            }
            var seen: Set<String> = []
            var read = 0
            while true {
                guard seen.insert(url).inserted else {
                    throw HTTPSourceError(kind: .malformed, url: url, message: "the next page is one already read: the paging loops")
                }
                let fetched = try await fetcher.get(url)
                let json = try fetched.json()
                guard let list = JSONSource.pointer(rest.records, in: json) as? [Any] else {
                    let keys = (json as? [String: Any]).map { " (the page's keys: \($0.keys.sorted().joined(separator: ", ")))" } ?? ""
                    throw HTTPSourceError(kind: .malformed, url: url,
                                          message: "no list of records at \(rest.records.isEmpty ? "the top of the page" : "'\(rest.records)'")\(keys): set 'records' to the JSON pointer of the list")
                }
                let pageRecords = list.enumerated().map { index, record in
                    let id = idPath.values(in: record).first
                    return records.record(record, locator: .resource(id.map { "\(idName)=\($0)" } ?? "record \(read + index + 1)"))
                }
                try await page(pageRecords)
                read += list.count
                if let limit, read >= limit { return }
                var next: String?
                switch rest.paging {
                case .none:
                    next = nil
                case .nextLink(let field):
                    // The field's name as written first: "@odata.nextLink" holds a dot.
                    var value: Any? = (json as? [String: Any])?[field]
                    if value == nil, case .success(let path) = JSONPath.parse(field) { value = path.values(in: json).first }
                    next = (value as? String).flatMap { $0.isEmpty ? nil : $0 }
                case .linkHeader:
                    next = JSONSource.nextLink(fetched.headers[canonicalForm: "Link"].map(String.init))
                case .page(let parameter, _, let sizeParameter):
                    if list.count >= rest.pageSize && !list.isEmpty {
                        pageNumber += 1
                        next = URLText.adding([(parameter, "\(pageNumber)")] + (sizeParameter.map { [($0, "\(rest.pageSize)")] } ?? []), to: endpoint.http.url)
                    }
                case .offset(let parameter, let limitParameter):
                    if list.count >= rest.pageSize && !list.isEmpty {
                        offset += list.count
                        next = URLText.adding([(parameter, "\(offset)")] + (limitParameter.map { [($0, "\(rest.pageSize)")] } ?? []), to: endpoint.http.url)
                    }
                }
                guard let next else { return }
                url = URLText.resolve(next, against: url)
            }
        }
        return SourceReadInfo()
    }

    /// RFC 6901: `/value`, `/data/users`, `/items/0`; "" is the document itself.
    static func pointer(_ pointer: String, in document: Any) -> Any? {
        guard !pointer.isEmpty else { return document }
        var node: Any? = document
        for raw in pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let object = node as? [String: Any] {
                node = object[token]
            } else if let array = node as? [Any], let index = Int(token), array.indices.contains(index) {
                node = array[index]
            } else {
                return nil
            }
        }
        return node
    }

    /// The `rel="next"` target of `Link` headers (RFC 8288): `<https://…?page=2>; rel="next"`.
    static func nextLink(_ headers: [String]) -> String? {
        for header in headers {
            for link in header.split(separator: ",") {
                let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
                for parameter in parts.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard pair.count == 2, pair[0].lowercased() == "rel" else { continue }
                    let rels = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased().split(separator: " ")
                    if rels.contains("next") { return String(target.dropFirst().dropLast()) }
                }
            }
        }
        return nil
    }
}
