import CSV
import Foundation

/// A CSV file read row by row (never whole): the header, then each row with the line it starts
/// on. Any fault of the file (an unbalanced quote, a row with the wrong number of fields,
/// invalid UTF-8) is thrown with its file, line and column.
final class CSVFile {
    let path: String
    /// The header's column names, trimmed.
    let header: [String]
    private let stream: CSVCheckedStream
    private let reader: CSVReader

    /// Opens `file` (default: the settings' path); messages name `settings.path`.
    init(_ settings: CSVSettings, file: String? = nil) throws(CSVFileError) {
        path = settings.path
        stream = try CSVCheckedStream(path: file ?? settings.path, name: settings.path, encoding: settings.encoding,
                                      delimiter: settings.delimiter)
        do {
            reader = try CSVReader(stream: stream, hasHeaderRow: false, trimFields: false, delimiter: settings.delimiter)
        } catch {
            throw stream.failure ?? CSVFileError(path: path, line: nil, column: nil, message: "cannot read the file: \(error)")
        }
        // The header: the first row that is not blank.
        var header: [String]?
        while let row = reader.next() {
            _ = stream.takeRowLine()
            if row == [""] { continue }
            header = row.map { $0.trimmingCharacters(in: .whitespaces) }
            break
        }
        if let failure = stream.failure { throw failure }
        guard let header else {
            throw CSVFileError(path: path, line: nil, column: nil, message: "the file is empty: it needs a header row naming its columns")
        }
        var seen: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            if name.isEmpty {
                throw CSVFileError(path: path, line: 1, column: nil, message: "column \(i + 1) of the header has no name")
            }
            if let first = seen[name.lowercased()] {
                throw CSVFileError(path: path, line: 1, column: nil,
                                   message: "the header names '\(name)' twice (columns \(first + 1) and \(i + 1)); column names must be unique")
            }
            seen[name.lowercased()] = i
        }
        self.header = header
    }

    /// The index of a column by name (without regard to case).
    func column(_ name: String) -> Int? {
        header.firstIndex { $0.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// The next row that is not blank, with the line it starts on; nil at the end.
    func next() throws(CSVFileError) -> (line: Int, fields: [String])? {
        while let row = reader.next() {
            let line = stream.takeRowLine()
            if let failure = stream.failure { throw failure }
            if row == [""] { continue }
            guard row.count == header.count else {
                throw CSVFileError(path: path, line: line, column: nil,
                                   message: "\(row.count) field\(row.count == 1 ? "" : "s") where the header has \(header.count) (is a field with the delimiter or a line break not quoted?)")
            }
            return (line, row)
        }
        if let failure = stream.failure { throw failure }
        if let error = reader.error {
            throw CSVFileError(path: path, line: nil, column: nil, message: "cannot read the file: \(error)")
        }
        return nil
    }
}
