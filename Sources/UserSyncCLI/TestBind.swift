import ArgumentParser
struct TestBind: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test-bind")
    func run() async throws {}
}
