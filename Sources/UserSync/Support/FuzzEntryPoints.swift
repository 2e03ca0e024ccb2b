import Foundation

/// The parsers of usersync's own, each run on arbitrary input for the coverage-guided fuzz
/// targets (`Sources/UserSyncFuzz`, `scripts/fuzz.sh`). Every entry point returns normally
/// whether its input is valid or not; a crash, a hang or a sanitizer report is a defect, and so
/// is a broken promise (`fatalError` with what broke: libFuzzer keeps the input). Not API:
/// reached only through `@_spi(Fuzzing) import UserSync`.
@_spi(Fuzzing)
public enum FuzzEntryPoints {
    /// A CSV file of `bytes` (first byte: delimiter and encoding), read to its end or its first
    /// fault through the checked stream and CSV.swift; `scratch` is a file path to write it to.
    public static func csv(_ bytes: [UInt8], scratch: String) {
        guard let control = bytes.first else { return }
        let delimiters: [Unicode.Scalar] = [",", ";", "\t", "|"]
        var settings = CSVSettings(path: scratch, idColumn: "id")
        settings.delimiter = delimiters[Int(control) % delimiters.count]
        settings.encoding = control & 0x80 == 0 ? .utf8 : .latin1
        guard FileManager.default.createFile(atPath: scratch, contents: Data(bytes.dropFirst())) else {
            fatalError("cannot write the scratch file \(scratch)")
        }
        do {
            let file = try CSVFile(settings)
            var lastLine = 0
            while let row = try file.next() {
                // Promises the sync relies on: every row has the header's width, lines move forward.
                guard row.fields.count == file.header.count else { fatalError("a row of \(row.fields.count) fields under a header of \(file.header.count)") }
                guard row.line > lastLine else { fatalError("row line \(row.line) after \(lastLine)") }
                lastLine = row.line
            }
        } catch {
            // A fault of the file must say where it is, or at least what it is.
            guard !error.description.isEmpty else { fatalError("an empty CSV error") }
        }
    }

    /// A JSON path (`emails[type eq "work"].value`) parsed, and if valid, evaluated on a record.
    public static func jsonPath(_ text: String) {
        guard case .success(let path) = JSONPath.parse(text) else { return }
        let record: [String: Any] = [
            "userName": "ann", "active": true, "id": 42,
            "name": ["givenName": "Ann", "familyName": "Example"],
            "emails": [["value": "ann@example.com", "type": "work", "primary": true], ["value": "a@example.net", "type": "home"]],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": ["employeeNumber": "7", "manager": ["value": "9"]],
        ]
        _ = path.values(in: record)
        _ = path.values(in: [record, record])
        _ = path.values(in: "text")
    }

    /// A cron expression parsed, and if valid, its next slots computed: each after the last,
    /// and within four years (an expression that never runs is refused when parsed, so that a
    /// schedule never waits for ever).
    public static func cron(_ text: String) {
        guard let expression = try? CronExpression(text) else { return }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
        for _ in 0..<3 {
            let next = expression.next(after: date, calendar: calendar)
            guard next > date, next.timeIntervalSince(date) <= 4 * 366 * 86_400 else {
                fatalError("'\(text)': the next slot after \(date) is \(next)")
            }
            date = next
        }
    }

    /// A configuration file loaded; its problems are collected, never thrown past here.
    public static func configuration(_ text: String) {
        _ = try? ConfigLoader.parse(text, file: "fuzz.yaml")
    }
}
