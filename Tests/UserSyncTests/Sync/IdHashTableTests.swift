import Testing
@testable import UserSync

@Suite("the known records' table by id hash")
struct IdHashTableTests {
    static func known(_ id: Int64, _ fingerprint: UInt64 = 7, active: Bool = true) -> KnownRecords.Known {
        KnownRecords.Known(fingerprint: fingerprint, userId: id, active: active)!
    }

    @Test("every key added is found with its entry, past the capacity it was made for; other keys are not")
    func addAndFind() {
        var table = IdHashTable(capacity: 100)
        // Real id hashes, and keys that crowd one corner of the key space (0 included).
        var keys = (0..<20_000).map { RecordFingerprint.idHash("id-\($0)") }
        keys += (0..<500).map { UInt64($0) }
        for (n, key) in keys.enumerated() { table.add(key, Self.known(Int64(n), UInt64(n) &* 31, active: n % 3 == 0)) }
        #expect(table.count == keys.count)
        for (n, key) in keys.enumerated() {
            let found = table[key]
            #expect(found?.userId == Int64(n) && found?.fingerprint == UInt64(n) &* 31 && found?.active == (n % 3 == 0),
                    "key \(key)")
        }
        for n in 0..<1_000 { #expect(table[RecordFingerprint.idHash("other-\(n)")] == nil) }
        #expect(IdHashTable()[0] == nil && IdHashTable().count == 0)
    }

    @Test("a key given twice is found no more, however often it comes again; its neighbours still are")
    func ambiguous() {
        var table = IdHashTable(capacity: 4)
        table.add(10, Self.known(1))
        table.add(11, Self.known(2))
        table.add(10, Self.known(3))
        #expect(table[10] == nil && table[11]?.userId == 2 && table.count == 1)
        table.add(10, Self.known(4))
        #expect(table[10] == nil && table.count == 1)
        // Growing keeps the mark.
        for key in UInt64(100)..<UInt64(200) { table.add(key, Self.known(Int64(key))) }
        #expect(table[10] == nil && table[11]?.userId == 2 && table[150]?.userId == 150 && table.count == 101)
    }
}
