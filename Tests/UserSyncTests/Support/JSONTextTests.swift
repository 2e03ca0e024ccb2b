import Foundation
import Testing
@testable import UserSync

@Suite("JSON text")
struct JSONTextTests {
    /// The store compares attributes as text, so the hand-written JSON must be byte for byte what
    /// JSONEncoder (sorted keys, slashes unescaped) wrote for stores made by earlier versions.
    @Test("the same text as JSONEncoder with sorted keys, for quotes, backslashes, control characters and non-ASCII")
    func sameAsJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let samples: [[String: String]] = [
            [:],
            ["title": "Engineer"],
            ["b": "2", "a": "1", "c": "3", "B": "upper", "a1": "x"],
            ["path": "ou=a/b, \"quoted\" and \\back\\slash"],
            ["controls": "line\nfeed\rreturn\ttab\u{08}bell\u{0C}feed\u{01}\u{1F}\u{7F}"],
            ["name": "Zoë Ångström — 東京 🎉", "größe": "groß", "émoji": "✓"],
            ["empty": ""],
        ]
        for sample in samples {
            let expected = String(decoding: try encoder.encode(sample), as: UTF8.self)
            #expect(JSONText.object(sample) == expected, "\(sample)")
        }
    }
}
