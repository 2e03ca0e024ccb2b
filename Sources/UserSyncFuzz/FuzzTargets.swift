import Foundation
import LDAP
@_spi(Fuzzing) import UserSync

/// The fuzz targets, by name: each takes one input as bytes.
///
/// Built two ways. With `-sanitize=fuzzer -DFUZZING` (`scripts/fuzz.sh`) libFuzzer's driver
/// runs the target named by `USERSYNC_FUZZ_TARGET`. Without, the
/// `usersync-fuzz` executable replays files through a target (`usersync-fuzz TARGET FILE…`),
/// which is how a seed corpus or a crash found is run again.
enum FuzzTarget: String, CaseIterable {
    case dn, filter, csv, config, jsonpath, cron

    /// A file the csv target writes its input to (the checked stream reads files).
    static let scratch = "/tmp/usersync-fuzz-\(getpid()).csv"

    func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .dn: FuzzTarget.distinguishedName(text)
        case .filter: FuzzTarget.filter(text)
        case .csv: FuzzEntryPoints.csv(bytes, scratch: FuzzTarget.scratch)
        case .config: FuzzEntryPoints.configuration(text)
        case .jsonpath: FuzzEntryPoints.jsonPath(text)
        case .cron: FuzzEntryPoints.cron(text)
        }
    }

    /// RFC 4514: any text parses or is refused; a value escaped by `DistinguishedName.escape`
    /// always parses back to itself (group members and scoping compare DNs built that way);
    /// normalising is idempotent.
    static func distinguishedName(_ text: String) {
        if let dn = try? DistinguishedName(text) {
            guard let normal = DistinguishedName.normalize(text) else { fatalError("'\(text)' parses but does not normalise") }
            guard DistinguishedName.normalize(normal) == normal else { fatalError("normalising '\(text)' twice changes it: '\(normal)'") }
            _ = dn.description
            _ = DistinguishedName.firstRDNValue(text)
        }
        let built = "cn=" + DistinguishedName.escape(text) + ",dc=example,dc=com"
        guard let parsed = try? DistinguishedName(built) else { fatalError("the escaped value of '\(text)' does not parse: '\(built)'") }
        guard parsed.rdns.first?.first?.value == text else {
            fatalError("'\(text)' escaped as '\(built)' reads back as '\(parsed.rdns.first?.first?.value ?? "nil")'")
        }
    }

    /// RFC 4515: any text is checked or refused; a value escaped by `LDAPFilter.escape` is
    /// always a valid assertion value (no value is pasted into a filter unescaped).
    static func filter(_ text: String) {
        _ = try? LDAPFilter.check(text)
        let built = "(cn=" + LDAPFilter.escape(text) + ")"
        do { _ = try LDAPFilter.check(built) } catch { fatalError("the escaped value of '\(text)' makes an invalid filter '\(built)': \(error)") }
        _ = LDAPFilter.escape(bytes: Array(text.utf8))
    }

    /// The target named by `USERSYNC_FUZZ_TARGET`.
    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["USERSYNC_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set USERSYNC_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()
}

#if FUZZING
// libFuzzer's driver, for a program that has a main of its own (SwiftPM's executables do:
// `LLVMFuzzerRunDriver`, compiler-rt's FuzzerInterface.h).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
enum Fuzz {
    static func main() {
        _ = FuzzTarget.current
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzTarget.current.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
    }
}
#else
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            FileHandle.standardError.write(Data("""
                usage: usersync-fuzz TARGET FILE|DIRECTORY…   (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))
                Runs each file through the target's parser, as the fuzzer does; scripts/fuzz.sh fuzzes.

                """.utf8))
            exit(64)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("usersync-fuzz: \(path) does not exist\n".utf8))
                exit(2)
            }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(Array(data))
                count += 1
            }
        }
        unlink(FuzzTarget.scratch)
        print("\(target.rawValue): \(count) input\(count == 1 ? "" : "s") ran without a fault")
    }
}
#endif
