import ArgumentParser

@main
struct UserSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usersync",
        abstract: "Keep an application's user database in step with LDAP and Active Directory.",
        subcommands: [TestBind.self]
    )
}
