import Foundation
import LDAP
import Logging
import NIOConcurrencyHelpers

/// Reads every page of a source into the store's staging tables: users (fingerprinted, mapped
/// and compressed off the reading thread), then groups and their membership links. Any error
/// ends the read before a single user is touched.
struct PageReader: Sendable {
    let store: any SyncStore
    let staging: any RunStaging
    let settings: SourceSettings
    let log: Logger
    let progress: (@Sendable (SyncProgress) -> Void)?
    let started: ContinuousClock.Instant
    /// Whether to load the fingerprints of the source's users, to recognise identical records
    /// without comparing them. A delta reads a handful of records: loading every user's
    /// fingerprint would cost it more than comparing them does.
    var loadKnownRecords = true
    private let pages = ReadCounter()
    private let groupPages = ReadCounter()
    private let identical = IdenticalCounter()

    init(store: any SyncStore, staging: any RunStaging, settings: SourceSettings, log: Logger,
         progress: (@Sendable (SyncProgress) -> Void)?, started: ContinuousClock.Instant) {
        self.store = store
        self.staging = staging
        self.settings = settings
        self.log = log
        self.progress = progress
        self.started = started
    }

    struct Result: Sendable {
        var entries: Int
        var pages: Int
        var groups: Int
        /// With users.memberOf scoped from the group tree: the users left in scope.
        var inScope: Int?
        /// `PlanRequest.usernamesDistinct`.
        var usernamesDistinct = false
        /// `PlanRequest.membersResolvedAsRead`.
        var membersResolvedAsRead = false
        /// What `Planner.noneMissing` weighs: the records found identical, how many of their
        /// rows were active, and how many fingerprints the store held, when they were loaded.
        var identicalRead: Int?
        var identicalActive: Int?
        var fingerprintRows: Int?
    }

    /// Entries read so far (for a failure's message).
    var entriesRead: Int { pages.total }

    func tell(_ phase: SyncProgress.Phase) {
        progress?(SyncProgress(source: settings.name, phase: phase, entries: pages.total, pages: pages.pages,
                               groups: groupPages.total, elapsed: (ContinuousClock.now - started).secondsValue))
    }

    func read(_ source: any RecordSource) async throws -> Result {
        tell(.connecting)
        // Normalised DNs are needed only to match group members and to scope users by groups.
        let withDNs = settings.groups != nil || !settings.memberOf.isEmpty
        let (info, fingerprintRows, keptChunks) = try await readUsers(source, withDNs: withDNs)
        var membersResolved = false
        MemoryRelease.afterPhase()
        let fingerprinted = groupsFingerprinted
        let usernamesDistinct = try await staging.finishUsers(source: settings.name, idAttribute: settings.stableID, stageIdentical: withDNs && !fingerprinted,
                                      fingerprintRows: fingerprintRows)
        if let groups = settings.groups {
            let mapper = GroupMapper(mapping: groups, userIDAttribute: settings.stableID)
            let sourceName = settings.name
            let (known, lastUserChunk) = fingerprinted
                ? try await staging.run { db in
                    (try GroupFingerprintTables.load(db, source: sourceName), try GroupFingerprintTables.lastChunk(db))
                }
                : (KnownGroups(), 0)
            // Members by DN are resolved against the identical users as the groups are mapped
            // (`MemberIndex`) when the identical users are all a full read's group plan would
            // look at besides the staged ones: not for memberUid (by username), memberOf (the
            // links come with the users) or users scoped by groups (the scope walks the links).
            let members = fingerprinted && groups.membership.namesMembersByDN ? MemberIndexLoad(staging: staging) : nil
            let identical = try await readGroups(source, mapper: mapper,
                                                 fingerprint: fingerprinted ? GroupFingerprint(source: settings, groups: groups) : nil,
                                                 known: known, keptChunks: keptChunks, members: members)
            log.info("groups read", metadata: ["groups": "\(groupPages.total)", "identical": "\(identical)"])
            if identical > 0 { try await settleIdenticalGroups(mapper: mapper, after: lastUserChunk, members: members) }
            if let members {
                try await members.linkGroupsNamingUsers()
                // Not loaded: no group was mapped with links, and no link names anyone.
                membersResolved = members.index?.complete ?? true
                members.release()
            }
            MemoryRelease.afterPhase()
            try await staging.finishLinks()
        }
        var inScope: Int?
        if !settings.memberOf.isEmpty && !info.usersScopedByServer {
            guard settings.groups != nil else { throw SyncConfigurationError(description: RunAdvice.memberOfNeedsGroups) }
            inScope = try await staging.scope(toMembersOf: settings.memberOf)
            log.info("users limited to the members of users.memberOf, from the group tree", metadata: ["users": "\(inScope!)"])
        }
        return Result(entries: pages.total, pages: pages.pages, groups: groupPages.total, inScope: inScope,
                      usernamesDistinct: usernamesDistinct, membersResolvedAsRead: membersResolved,
                      identicalRead: loadKnownRecords ? identical.counts.read : nil,
                      identicalActive: loadKnownRecords ? identical.counts.active : nil, fingerprintRows: fingerprintRows)
    }

    /// A pipeline: while page N+1 is read from the server, page N is fingerprinted, mapped and
    /// compressed on another thread, and page N-1 is written to the staging tables. The reader
    /// waits only when more than `PagePipeline.depth` pages are in flight, so memory stays
    /// bounded by a few pages.
    private func readUsers(_ source: any RecordSource, withDNs: Bool)
        async throws -> (SourceReadInfo, fingerprintRows: Int?, keptChunks: [UInt64: KeptChunks.Previous]) {
        let mapper = Mapper(source: settings)
        let linksFromUsers = settings.groups?.membership == .memberOf
        let attributes = mapper.requestedAttributes + (linksFromUsers ? ["memberOf"] : [])
        let fingerprint = RecordFingerprint(source: settings)
        let idAttribute = settings.stableID
        let (store, staging, pages, identical, log, sourceName) = (store, staging, pages, identical, log, settings.name)
        // Loaded while the source connects, binds and sends its first page.
        let wanted = loadKnownRecords
        let pipeline = PagePipeline()
        let knownRecords = Task {
            defer { pipeline.loaded() }
            guard wanted else { return KnownRecords() }
            let loading = ContinuousClock.now
            let known = try await store.knownRecords(source: sourceName) { pipeline.snapshotTaken() }
            log.debug("fingerprints loaded", metadata: ["users": "\(known.count)",
                                                       "seconds": "\(String(format: "%.3f", (ContinuousClock.now - loading).secondsValue))"])
            return known
        }
        do {
            let info = try await source.read(attributes: attributes) { records in
                let (page, total) = pages.add(records.count)
                tell(.readingUsers)
                // What the pages are compared with predates every page: a row the application
                // writes while the run reads is seen as it was, and the plan finds it changed
                // since (`FingerprintTests.rowChangedDuringRead`).
                await pipeline.snapshot()
                let previous = pipeline.last
                let task = Task.detached {
                    // Awaited here, not by the reader: the pages that arrive while the store's
                    // fingerprints load (a tenth of a second at 100,000 users) queue up instead
                    // of holding up the directory.
                    let known = try await knownRecords.value
                    let prepared = PreparedPage(
                        records: records.map {
                            PageReader.stage($0, mapper: mapper, fingerprint: fingerprint, known: known, withDNs: withDNs)
                        },
                        firstSeq: Int64(total - records.count + 1),
                        archive: try PageReader.archive(records, kept: known.keptChunks),
                        links: linksFromUsers ? GroupMapper.userLinks(records) : [])
                    identical.add(prepared.records)
                    try await previous?.value
                    try await staging.add(prepared.records, firstSeq: prepared.firstSeq, archive: prepared.archive,
                                          withDNs: withDNs, idAttribute: idAttribute)
                    try await staging.addLinks(prepared.links)
                }
                if let wait = pipeline.push(task) { try await wait.value }
                log.debug("page read", metadata: ["page": "\(page)", "entries": "\(records.count)", "total": "\(total)"])
            }
            try await pipeline.last?.value
            let known = try await knownRecords.value
            return (info, known.storedRows, known.keptChunks)
        } catch {
            // Let the pages in flight finish before the staging tables are dropped.
            _ = try? await pipeline.last?.value
            throw error
        }
    }

    /// Whether group records are fingerprinted, so that a run finding every user and group as
    /// before leaves the memberships alone (`GroupFingerprintTables`): not when the links come
    /// from the users' memberOf, when users are scoped by groups (both need every link staged),
    /// or for a source read incrementally (its deltas keep the groups their own way).
    var groupsFingerprinted: Bool {
        guard let groups = settings.groups, groups.membership != .memberOf, settings.memberOf.isEmpty, loadKnownRecords else {
            return false
        }
        if case .ldap(let directory) = settings.kind, directory.incremental.method != .off { return false }
        return true
    }

    /// A page of big groups holds many members: their links are made and staged a few groups at
    /// a time (`GroupSlices`), so that memory holds one page of records, not also every link of
    /// it as text. While one slice is staged, the next is mapped (the directory is idle then,
    /// and so is one core). A group `known` holds exactly as read is staged without its links.
    /// Returns how many were.
    private func readGroups(_ source: any RecordSource, mapper: GroupMapper, fingerprint: GroupFingerprint?,
                            known: KnownGroups, keptChunks: [UInt64: KeptChunks.Previous],
                            members: MemberIndexLoad?) async throws -> Int {
        let (staging, groupPages) = (staging, groupPages)
        let identical = ReadCounter()
        let attribute = mapper.mapping.membership.attribute
        try await source.readGroups(attributes: mapper.requestedAttributes) { records in
            var staged: Task<Void, any Error>?
            do {
                for slice in GroupSlices(records, attribute: attribute) {
                    let mapped = try await MemberIndexLoad.map(Array(records[slice]), members: members) {
                        mapper.map($0, fingerprint: fingerprint, known: known, members: $1)
                    }
                    try await staged?.value
                    staged = Task {
                        try await staging.addGroups(mapped.groups, idAttribute: mapper.idAttribute)
                        try await staging.addLinks(mapped.links)
                        try await staging.addMembers(mapped.members)
                    }
                    _ = groupPages.add(mapped.groups.count)
                    _ = identical.add(mapped.groups.count { $0.identical })
                    tell(.readingGroups)
                }
                let archive = try PageReader.archive(records, kept: keptChunks)
                try await staged?.value
                try await staging.addArchive(archive, count: records.count)
            } catch {
                _ = try? await staged?.value
                throw error
            }
        }
        return identical.total
    }

    /// Some groups were staged without their links, as identical. When the read is not a no-op
    /// after all (a user or group changed, new or missing: a member value may now resolve
    /// differently), their links are staged from the records read, kept compressed in the
    /// staging tables, and the plan compares every group as usual.
    private func settleIdenticalGroups(mapper: GroupMapper, after lastUserChunk: Int64, members: MemberIndexLoad?) async throws {
        let sourceName = settings.name
        if try await staging.run({ db in try GroupFingerprintTables.readIsUnchanged(db, source: sourceName) }) { return }
        log.debug("not a no-op: staging the links of the groups read unchanged")
        let (chunks, keys) = try await staging.run { db in
            (try GroupFingerprintTables.chunks(db, after: lastUserChunk), Set(try GroupFingerprintTables.identicalGroups(db)))
        }
        for chunk in chunks {
            let data = try await staging.run { db in try GroupFingerprintTables.chunk(db, chunk) }
            let records = try RecordArchive.decode(data)
            var start = 0
            while start < records.count {
                let slice = Array(records[start..<min(start + 50, records.count)])
                let mapped = try await MemberIndexLoad.map(slice, members: members) { mapper.map($0, members: $1) }
                try await staging.addLinks(mapped.links.filter { keys.contains($0.group) })
                try await staging.addMembers(mapped.members.filter { keys.contains($0.group) })
                start += slice.count
            }
        }
        try await staging.run { db in try GroupFingerprintTables.clearIdentical(db) }
    }

    /// A page's records as the run keeps them: the chunk the last run kept of the same bytes,
    /// when there is one, else compressed now.
    static func archive(_ records: [SourceRecord], kept: [UInt64: KeptChunks.Previous]) throws -> ArchiveChunk {
        let raw = RecordArchive.pack(records)
        let hash = RecordArchive.rawHash(raw)
        if let previous = kept[hash], previous.entries == records.count {
            return .copy(run: previous.run, chunk: previous.chunk, raw: raw, rawHash: hash)
        }
        return .compressed(try RecordArchive.compress(raw), rawHash: hash)
    }

    /// One record as the staging table takes it: only its identity when it is exactly what the
    /// user's row was last written from, else mapped in full.
    static func stage(_ entry: SourceRecord, mapper: Mapper, fingerprint: RecordFingerprint, known: KnownRecords,
                      withDNs: Bool) -> StagedRecord {
        let print = fingerprint(entry)
        func mapped(_ idHash: UInt64?) -> StagedRecord {
            let user = mapper.map(entry)
            return .mapped(user, fingerprint: print, idHash: idHash, attributes: user.attributesJSON,
                           linkKey: withDNs ? entry.locator.linkKey : nil)
        }
        guard let idHash = entry.stableIDHash(mapper.idAttribute) else {
            return mapped(nil)
        }
        if let user = known.unchangedUser(idHash: idHash, fingerprint: print) {
            return .identical(userId: user.userId, fingerprint: print, linkKey: withDNs ? entry.locator.linkKey : nil,
                              wasActive: user.active)
        }
        return mapped(idHash)
    }
}

/// The identical users' link keys (`MemberIndex`), loaded when the first group is mapped with
/// links: a read whose groups are all identical to their fingerprints maps none, and loads
/// nothing (a group no-op's peak memory is its group read's).
final class MemberIndexLoad: Sendable {
    private let staging: any RunStaging
    private let loaded = NIOLockedValueBox<MemberIndex?>(nil)

    init(staging: any RunStaging) { self.staging = staging }

    var index: MemberIndex? { loaded.withLockedValue { $0 } }

    /// Frees the index (before the memory freed by the read is handed back).
    func release() { loaded.withLockedValue { $0 = nil } }

    /// `records` mapped by `map` with the index as loaded so far; mapped again with it loaded
    /// when that left links (the slices of a read are mapped one after another).
    static func map(_ records: [SourceRecord], members: MemberIndexLoad?,
                    _ map: ([SourceRecord], MemberIndex?) -> GroupMapper.Mapped) async throws -> GroupMapper.Mapped {
        let mapped = map(records, members?.index)
        guard let members, members.index == nil, !mapped.links.isEmpty else { return mapped }
        let index = try await members.staging.identicalLinkKeys()
        members.loaded.withLockedValue { $0 = index }
        return map(records, index)
    }

    /// A group whose link key is also an identical user's (one entry read as a user and as a
    /// group): a member naming it was resolved to the user, and names the nested group too.
    func linkGroupsNamingUsers() async throws {
        guard let index else { return }
        let keys = try await staging.run { db in try db.values(String.self, "SELECT dn_norm FROM staged_groups") }
        for key in keys {
            guard let user = index.userId(linkKey: key) else { continue }
            try await staging.run { db in
                try db.execute("INSERT INTO staged_links (group_dn, member, member_kind) SELECT group_dn, ?, 'dn' FROM staged_members WHERE user_id = ?",
                               key, user)
            }
        }
    }
}

/// One page, mapped and compressed, waiting to be staged.
struct PreparedPage: Sendable {
    let records: [StagedRecord]
    /// The place in the read of the page's first record (1-based).
    let firstSeq: Int64
    let archive: ArchiveChunk
    let links: [GroupMapper.Link]
}

/// The pages in flight between the reader and the staging tables, oldest first. Each page's
/// task waits for the one before it, so pages are staged in the order read.
struct PagePipeline: Sendable {
    /// Pages in flight before the reader waits.
    static let depth = 3
    /// Pages in flight before the reader waits while the store's fingerprints still load: the
    /// pages a directory sends in that time (about 10 at 100,000 users) are held, not refused.
    static let loadingDepth = 12
    private let state = NIOLockedValueBox(State())

    private struct State {
        var tasks: [Task<Void, any Error>] = []
        var loaded = false
        var snapshotTaken = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    /// The newest page's task.
    var last: Task<Void, any Error>? { state.withLockedValue { $0.tasks.last } }

    /// What the fingerprints are loaded from is fixed: pages may be handed on.
    func snapshotTaken() {
        let waiting = state.withLockedValue { state in
            state.snapshotTaken = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns once `snapshotTaken` or `loaded` was called.
    func snapshot() async {
        await withCheckedContinuation { continuation in
            let taken = state.withLockedValue { state in
                if !state.snapshotTaken { state.waiting.append(continuation) }
                return state.snapshotTaken
            }
            if taken { continuation.resume() }
        }
    }

    /// The fingerprints the pages are compared with are loaded (or failed to, or are not wanted).
    func loaded() {
        state.withLockedValue { $0.loaded = true }
        snapshotTaken()
    }

    /// Adds a page's task; returns the one for the reader to wait for when too many are in
    /// flight (each page's task ends after the one before it, so waiting for it waits for all
    /// the older ones too).
    func push(_ task: Task<Void, any Error>) -> Task<Void, any Error>? {
        state.withLockedValue { state in
            state.tasks.append(task)
            let excess = state.tasks.count - (state.loaded ? PagePipeline.depth : PagePipeline.loadingDepth)
            guard excess > 0 else { return nil }
            let wait = state.tasks[excess - 1]
            state.tasks.removeFirst(excess)
            return wait
        }
    }
}

/// Pages and entries read so far (the page callback is @Sendable).
struct ReadCounter: Sendable {
    private let counts = NIOLockedValueBox((entries: 0, pages: 0))

    init() {}

    func add(_ count: Int) -> (page: Int, total: Int) {
        counts.withLockedValue { counts in
            counts.entries += count
            counts.pages += 1
            return (counts.pages, counts.entries)
        }
    }

    var total: Int { counts.withLockedValue { $0.entries } }
    var pages: Int { counts.withLockedValue { $0.pages } }
}

/// The identical records read so far, and how many of their rows were active when loaded.
struct IdenticalCounter: Sendable {
    private let box = NIOLockedValueBox((read: 0, active: 0))

    init() {}

    func add(_ records: [StagedRecord]) {
        var read = 0, active = 0
        for case let .identical(_, _, _, wasActive) in records {
            read += 1
            if wasActive { active += 1 }
        }
        box.withLockedValue { $0 = ($0.read + read, $0.active + active) }
    }

    var counts: (read: Int, active: Int) { box.withLockedValue { $0 } }
}

/// Records gathered by a page callback (previews, checks).
struct RecordCollector: Sendable {
    private let collected = NIOLockedValueBox<[SourceRecord]>([])

    init() {}

    func add(_ records: [SourceRecord]) { collected.withLockedValue { $0 += records } }

    var records: [SourceRecord] { collected.withLockedValue { $0 } }
}
