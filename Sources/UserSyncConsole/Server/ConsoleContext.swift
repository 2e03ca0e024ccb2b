import Hummingbird
import NIOCore

/// A request's context: Hummingbird's core storage and the peer's address (for
/// `loopbackWithoutLogin`, which trusts only connections from this machine).
public struct ConsoleContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by the access check: the page shows a "log out" button (not for loopback or a token).
    var hasSession = false

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
