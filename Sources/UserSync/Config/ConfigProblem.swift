/// One thing wrong in a configuration file, with where it is.
public struct ConfigProblem: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public let file: String
    /// 1-based line and column, when known.
    public let line: Int?
    public let column: Int?
    /// Where in the file's structure: `sources[0].users.base`.
    public let path: String
    public let message: String
    /// A valid key close to a misspelt one.
    public let suggestion: String?

    public init(file: String, line: Int?, column: Int?, path: String, message: String, suggestion: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.suggestion = suggestion
    }

    /// `usersync.yaml:12:5: sources[0].users.bse: unknown key; did you mean 'base'?`
    public var description: String {
        var location = file
        if let line { location += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        var text = "\(location): " + (path.isEmpty ? "" : "\(path): ") + message
        if let suggestion { text += "; did you mean '\(suggestion)'?" }
        return text
    }
}

/// Every problem found in a configuration file. Loading stops only after reading all of it,
/// so that an administrator sees every mistake at once.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let problems: [ConfigProblem]

    public init(_ problems: [ConfigProblem]) { self.problems = problems }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

/// The valid candidate nearest to a misspelt word (edit distance at most 2, or a case-only
/// difference), for "did you mean" hints.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let lower = word.lowercased()
    if let sameLetters = candidates.first(where: { $0.lowercased() == lower }) { return sameLetters }
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(lower, candidate.lowercased())
        if distance <= max(1, min(2, candidate.count / 3)), best == nil || distance < best!.1 {
            best = (candidate, distance)
        }
    }
    if let best { return best.0 }
    // A prefix of a key (`pass` for `passwordFile`).
    let prefixed = candidates.filter { $0.lowercased().hasPrefix(lower) && lower.count >= 3 }
    return prefixed.count == 1 ? prefixed[0] : nil
}

/// Edit distance counting a swap of two neighbouring letters as one edit (optimal string
/// alignment), so that "emial" is one edit from "email".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}
