import Foundation
import LDAP
import Logging

/// A program's standard output as a source (`type: command`): the program runs to its end
/// with its output going to a private file, and only then is the file read, as CSV (through
/// the `csv` source's reader: header, quoting, groups column) or as JSON lines (each line an
/// object read with the same paths as a `json` source's records). A program that fails, runs
/// past its timeout or prints a line that does not parse fails the read, so the engine
/// changes nothing; the error ends with the tail of the program's standard error.
public struct CommandSource: RecordSource {
    public let settings: SourceSettings
    public let command: CommandSourceSettings
    public var limit: Int?
    public var logger: Logger
    /// The CSV reader (format: csv), kept for `readGroups`: it remembers the group paths of
    /// the last read.
    private let csv: CSVSource?

    public init(settings: SourceSettings, command: CommandSourceSettings, limit: Int? = nil,
                logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.command = command
        self.limit = limit
        self.logger = logger
        if case .csv(let csv) = command.format {
            self.csv = CSVSource(settings: settings, csv: csv, limit: limit, logger: logger)
        } else {
            self.csv = nil
        }
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let directory = try CSVSource.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/output"
        if let workingDirectory = command.command.workingDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandSourceError(kind: .cannotStart, message: "command: workingDirectory '\(workingDirectory)' is not a directory")
            }
        }
        let started = ContinuousClock.now
        let stderr = try await CommandRunner.run(command.command, output: output)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        logger.info("command finished", metadata: [
            "command": "\(command.command.display)", "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).secondsValue))", "bytes": "\(size)",
        ])
        do {
            switch command.format {
            case .csv:
                try await csv!.read(output, attributes: attributes, page: page)
            case .jsonLines:
                try await readJSONLines(output, attributes: attributes, page: page)
            }
        } catch let error as CSVFileError {
            throw malformed(error.description, output: output, stderr: stderr)
        } catch let error as JSONLineError {
            throw malformed(error.message, output: output, stderr: stderr)
        }
        return SourceReadInfo()
    }

    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        try await csv?.readGroups(attributes: attributes, page: page)
    }

    /// A line of output that does not parse, with what the program wrote on standard error (a
    /// program that stopped half-way often says why there).
    private func malformed(_ what: String, output: String, stderr: String) -> CommandSourceError {
        var message = "command: \(what)"
        if !Self.endsWithNewline(output) {
            message += " (the output does not end with a line break: the program may have stopped in the middle of a line)"
        }
        message += stderr.isEmpty ? "; nothing was changed" : "; nothing was changed. Its standard error ends:\n\(stderr)"
        return CommandSourceError(kind: .malformed, message: message)
    }

    static func endsWithNewline(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return true }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd(), end > 0 else { return true }
        try? handle.seek(toOffset: end - 1)
        return (try? handle.read(upToCount: 1)) == Data([0x0A])
    }

    struct JSONLineError: Error { let message: String }

    /// One JSON object per line (JSON Lines, ndjson), read line by line: a record's locator is
    /// `output of <command>:<line>`.
    private func readJSONLines(_ path: String, attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        let records = try JSONRecords(attributes: attributes)
        let name = "output of \(command.command.display)"
        guard let file = fopen(path, "r") else {
            throw CommandSourceError(kind: .cannotStart, message: "command: cannot read its output: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        var line = 0
        var batch: [SourceRecord] = []
        var count = 0
        while true {
            let length = getline(&buffer, &capacity, file)
            if length < 0 { break }
            line += 1
            let data = Data(bytes: buffer!, count: length)
            let text = data.trimmingASCIIWhitespace()
            if text.isEmpty { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: text)
            } catch {
                throw JSONLineError(message: "\(name):\(line): not valid JSON (\(Self.reason(error))); the line begins: \(String(decoding: text.prefix(80), as: UTF8.self))")
            }
            guard object is [String: Any] else {
                throw JSONLineError(message: "\(name):\(line): expected a JSON object ({\"id\": …}) on each line, found \(object is [Any] ? "a list" : "a single value")")
            }
            batch.append(records.record(object, locator: .row(file: name, line: line)))
            count += 1
            if batch.count >= 1000 {
                try await page(batch)
                batch.removeAll(keepingCapacity: true)
            }
            if let limit, count >= limit { break }
        }
        if ferror(file) != 0 {
            throw CommandSourceError(kind: .failed, message: "command: cannot read its output: \(String(cString: strerror(errno)))")
        }
        if !batch.isEmpty { try await page(batch) }
    }

    /// Foundation's parse error without its boilerplate.
    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}

extension Data {
    /// The bytes without leading and trailing spaces, tabs and line breaks.
    func trimmingASCIIWhitespace() -> Data {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return Data() }
        return self[first...last]
    }
}
