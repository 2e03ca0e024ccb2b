import Foundation

/// A CSV file's bytes as UTF-8 for CSV.swift's `CSVReader`, checked on the way.
///
/// CSV.swift splits rows and unquotes fields, but it reads an unbalanced quote to the end of the
/// file as one field, keeps a stray character after a closing quote, stops at invalid UTF-8
/// without saying where, and knows no line numbers. This stream runs ahead of it with a small
/// RFC 4180 lexer that stops the read at the first such fault with its line and column, and
/// notes the line each row starts on (rows may hold quoted line breaks), in the order CSV.swift
/// returns them. It also drops a UTF-8 byte order mark and turns Latin-1 into UTF-8.
final class CSVCheckedStream: InputStream {
    /// What stopped the read, with its place; nil while the file is sound.
    private(set) var failure: CSVFileError?
    private let path: String
    private let encoding: CSVSettings.Encoding
    private let delimiter: UInt8
    private let descriptor: Int32

    private var raw = [UInt8](repeating: 0, count: 64 * 1024)
    /// Bytes of an incomplete UTF-8 sequence at the end of the last chunk.
    private var carry: [UInt8] = []
    /// Checked UTF-8 not yet handed to the reader.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var atEnd = false
    private var firstChunk = true

    // The lexer.
    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }
    private var state = State.fieldStart
    private var line = 1
    private var column = 0
    private var quoteLine = 0
    private var quoteColumn = 0
    private var rowLine = 1
    private var rowHasContent = false
    /// Start lines of the rows the lexer has seen and the reader has not taken yet.
    private var rowLines: [Int] = []
    private var rowLinesStart = 0

    /// `path` is opened; `name` (the path, or the URL it was downloaded from) is in messages.
    init(path: String, name: String? = nil, encoding: CSVSettings.Encoding, delimiter: Unicode.Scalar) throws(CSVFileError) {
        self.path = name ?? path
        self.encoding = encoding
        self.delimiter = UInt8(truncatingIfNeeded: delimiter.value)
        descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CSVFileError(path: name ?? path, line: nil, column: nil, message: "cannot open the file: \(reason)", unreadable: true)
        }
        super.init(data: Data())
    }

    deinit { Foundation.close(descriptor) }

    /// The line the next row the reader returns starts on.
    func takeRowLine() -> Int {
        guard rowLinesStart < rowLines.count else { return rowLine }
        let line = rowLines[rowLinesStart]
        rowLinesStart += 1
        if rowLinesStart > 4096 {
            rowLines.removeFirst(rowLinesStart)
            rowLinesStart = 0
        }
        return line
    }

    // MARK: InputStream, as CSV.swift's BinaryReader uses it

    override var streamStatus: Stream.Status { .open }
    override var streamError: (any Error)? { failure }
    override func open() {}
    override func close() {}

    /// CSV.swift asks before each byte it has not buffered; saying yes at the end would make it
    /// record a read error, so the answer looks ahead.
    ///
    /// A fault ends the stream (no bytes available, reads of 0) rather than failing the read:
    /// CSV.swift's reader leaks its 64 KiB buffer when its first read fails (it throws from its
    /// initialiser before the object is whole, so its deinit never runs; found by the csv fuzz
    /// target), and every caller asks `failure` after each row anyway (`CSVFile`).
    override var hasBytesAvailable: Bool {
        if failure != nil { return false }
        if pendingStart < pending.count { return true }
        fill()
        return failure == nil && pendingStart < pending.count
    }

    override func read(_ buffer: UnsafeMutablePointer<UInt8>, maxLength len: Int) -> Int {
        if pendingStart >= pending.count && failure == nil { fill() }
        if failure != nil { return 0 }
        let count = min(len, pending.count - pendingStart)
        pending.withUnsafeBufferPointer { source in
            buffer.update(from: source.baseAddress! + pendingStart, count: count)
        }
        pendingStart += count
        return count
    }

    override func getBuffer(_ buffer: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
                            length len: UnsafeMutablePointer<Int>) -> Bool { false }

    // MARK: Reading, decoding, checking

    private func fail(_ message: String, line: Int? = nil, column: Int? = nil) {
        failure = CSVFileError(path: path, line: line ?? self.line, column: column ?? max(self.column, 1), message: message)
    }

    /// Reads the next chunk into `pending`, decoded and checked; at the end of the file, checks
    /// that no quoted field is left open.
    private func fill() {
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        while pending.isEmpty && !atEnd && failure == nil {
            let count = raw.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = CSVFileError(path: path, line: nil, column: nil,
                                       message: "cannot read the file: \(String(cString: strerror(errno)))", unreadable: true)
                return
            }
            if count == 0 {
                atEnd = true
                if !carry.isEmpty {
                    column += 1
                    fail("the file ends inside a UTF-8 character\(latin1Hint)")
                    return
                }
                finish()
                return
            }
            var start = 0
            if firstChunk {
                firstChunk = false
                if count >= 3 && raw[0] == 0xEF && raw[1] == 0xBB && raw[2] == 0xBF {
                    if encoding == .latin1 {
                        fail("the file starts with a UTF-8 byte order mark, so it is UTF-8: remove 'encoding: latin1'", line: 1, column: 1)
                        return
                    }
                    start = 3
                }
            }
            switch encoding {
            case .utf8: decodeUTF8(count: count, from: start)
            case .latin1:
                for i in start..<count {
                    let byte = raw[i]
                    lex(byte)
                    if failure != nil { return }
                    if byte < 0x80 {
                        pending.append(byte)
                    } else {
                        pending.append(0xC0 | (byte >> 6))
                        pending.append(0x80 | (byte & 0x3F))
                    }
                }
            }
        }
    }

    private var latin1Hint: String {
        encoding == .utf8 ? " (not valid UTF-8: if the file was saved as Latin-1 or Windows-1252, set 'encoding: latin1' on the source)" : ""
    }

    /// Checks UTF-8 a character at a time (a character split between chunks waits in `carry`)
    /// and passes the valid bytes on.
    private func decodeUTF8(count: Int, from start: Int) {
        var bytes = carry
        bytes.append(contentsOf: raw[start..<count])
        carry.removeAll(keepingCapacity: true)
        var i = 0
        let n = bytes.count
        pending.reserveCapacity(n)
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 {
                lex(lead)
                if failure != nil { return }
                pending.append(lead)
                i += 1
                continue
            }
            let length: Int
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default:
                column += 1
                fail(String(format: "byte 0x%02X cannot start a character", lead) + latin1Hint)
                return
            }
            if i + length > n {
                carry.append(contentsOf: bytes[i...])
                return
            }
            var valid = true
            for k in 1..<length where bytes[i + k] & 0xC0 != 0x80 { valid = false }
            if valid, length == 3 {
                let second = bytes[i + 1]
                if (lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) { valid = false }
            }
            if valid, length == 4 {
                let second = bytes[i + 1]
                if (lead == 0xF0 && second < 0x90) || (lead == 0xF4 && second > 0x8F) { valid = false }
            }
            guard valid else {
                column += 1
                fail(String(format: "byte 0x%02X starts an invalid character", lead) + latin1Hint)
                return
            }
            lex(lead)
            pending.append(contentsOf: bytes[i..<i + length])
            i += length
        }
    }

    /// One character (by its first byte: every byte of interest is ASCII) through the lexer.
    private func lex(_ byte: UInt8) {
        column += 1
        switch state {
        case .afterCR:
            state = .fieldStart
            if byte == 0x0A { column = 0; return }  // CR LF: one line break, counted at the CR
            lexFieldStart(byte)
        case .fieldStart:
            lexFieldStart(byte)
        case .unquoted:
            if byte == delimiter { state = .fieldStart } else if byte == 0x0A || byte == 0x0D { endRow(byte) }
        case .quoted:
            if byte == 0x22 { state = .quoteInQuoted } else if byte == 0x0A { newLine() } else if byte == 0x0D {
                // A CR LF inside a quoted field is one line break too: the LF is counted on its own.
            }
        case .quoteInQuoted:
            if byte == 0x22 {
                state = .quoted  // "" inside quotes: one quote
            } else if byte == delimiter {
                state = .fieldStart
            } else if byte == 0x0A || byte == 0x0D {
                endRow(byte)
            } else {
                fail("a character after the closing quote of the field opened at line \(quoteLine) column \(quoteColumn): a quote inside a quoted field is written twice (\"\")")
            }
        }
    }

    private func lexFieldStart(_ byte: UInt8) {
        switch byte {
        case 0x22:
            state = .quoted
            quoteLine = line
            quoteColumn = column
            rowHasContent = true
        case delimiter:
            rowHasContent = true
        case 0x0A, 0x0D:
            endRow(byte)
        default:
            state = .unquoted
            rowHasContent = true
        }
    }

    private func endRow(_ byte: UInt8) {
        rowLines.append(rowLine)
        rowHasContent = false
        newLine()
        rowLine = line
        state = byte == 0x0D ? .afterCR : .fieldStart
    }

    private func newLine() {
        line += 1
        column = 0
    }

    private func finish() {
        switch state {
        case .quoted:
            fail("the quoted field opened here has no closing quote (a quote inside a quoted field is written twice: \"\")",
                 line: quoteLine, column: quoteColumn)
        case .unquoted, .quoteInQuoted:
            rowLines.append(rowLine)
        case .fieldStart:
            if rowHasContent { rowLines.append(rowLine) }
        case .afterCR:
            break
        }
    }
}

/// A CSV file that cannot be read, with the place of the fault when there is one.
public struct CSVFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let column: Int?
    public let message: String
    /// The file could not be opened or read at all (rather than read and found malformed).
    public let unreadable: Bool

    public init(path: String, line: Int?, column: Int?, message: String, unreadable: Bool = false) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.unreadable = unreadable
    }

    public var description: String {
        var place = path
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(message)"
    }
}
