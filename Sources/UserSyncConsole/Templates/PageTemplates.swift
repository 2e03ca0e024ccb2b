extension ConsoleTemplates {
    static let pages: [String: String] = [
        "login": """
        {{> head}}
        {{#acceptsLogin}}
        {{#failed}}<p class="error" role="alert">Wrong user name or password.</p>{{/failed}}
        <form method="post" action="/console/login" class="box" style="padding:1rem;max-width:22rem">
        <input type="hidden" name="next" value="{{next}}">
        <p><label>User name<br><input name="user" autocomplete="username" required autofocus></label></p>
        <p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
        <p><button type="submit">Log in</button></p>
        </form>
        <p class="muted">Scripts may send the password as HTTP basic auth, or the token of serve.consoleAccess.tokenFile as "Authorization: Bearer".</p>
        {{/acceptsLogin}}
        {{^acceptsLogin}}
        <p>This console takes no password logins: none is configured.</p>
        {{/acceptsLogin}}
        <h2>Setting a credential</h2>
        <p>In {{configFile}}, under <code>serve</code>:</p>
        <pre>serve:
          console: true
          consoleAccess:
            user: admin
            passwordFile: /etc/usersync/console.password   # chmod 600; or passwordEnv: NAME
            tokenFile: /etc/usersync/console.token         # optional, for scripts (Bearer)</pre>
        <p>then restart <code>usersync serve</code>. On a loopback listen address, <code>loopbackWithoutLogin: true</code> lets connections from this machine in without one.</p>
        {{> foot}}
        """,

        "sources": """
        {{> head}}
        <div class="box"><table>
        <thead><tr><th>Source</th><th>Type</th><th>Health</th><th>Last run</th><th>Next run</th><th>Mode</th><th>Schedule</th></tr></thead>
        <tbody>
        {{#sources}}
        <tr>
        <td><a href="{{link}}">{{name}}</a></td><td>{{type}}</td>
        <td><span class="badge {{healthClass}}">{{health}}</span>{{#runningOn}}<br><span class="muted">on {{runningOn}}</span>{{/runningOn}}</td>
        <td>{{#lastRun}}<a href="{{link}}">#{{id}}</a> <span class="badge {{status}}">{{status}}</span> {{startedAt}}{{#error}}<br><span class="error">{{error}}</span>{{/error}}{{/lastRun}}{{^lastRun}}none yet{{/lastRun}}</td>
        <td>{{next}}{{^next}}<span class="muted">—</span>{{/next}}</td><td>{{mode}}</td><td>{{schedule}}</td>
        </tr>
        {{/sources}}
        </tbody></table></div>
        {{> foot}}
        """,

        "source": """
        {{> head}}
        {{#source}}
        <dl>
        <dt>Type</dt><dd>{{type}}</dd>
        <dt>Reads</dt><dd>{{reads}}</dd>
        <dt>Stable id</dt><dd>{{stableID}}</dd>
        <dt>Groups</dt><dd>{{groups}}{{^groups}}not read{{/groups}}</dd>
        <dt>Mode</dt><dd>{{mode}}</dd>
        <dt>Schedule</dt><dd>{{schedule}}{{#next}} · next run {{next}}{{/next}}</dd>
        <dt>Health</dt><dd><span class="badge {{healthClass}}">{{health}}</span>{{#runningOn}} on {{runningOn}}{{/runningOn}}</dd>
        </dl>
        {{/source}}
        <h2>Test connection</h2>
        <form method="post" action="{{testLink}}"><button type="submit" id="test-connection">Test connection</button>
        <span class="muted">reaches the source, binds or signs in, and reads a first page — as <code>usersync test-bind --source {{name}}</code>; it writes nothing.</span></form>
        {{#tested}}
        <p>{{#testPassed}}<span class="badge ok" id="test-result">OK</span>{{/testPassed}}{{^testPassed}}<span class="badge bad" id="test-result">failed</span>{{/testPassed}}</p>
        {{#testReport}}<pre id="test-report">{{testReport}}</pre>{{/testReport}}
        {{#testError}}<p class="error">error: {{testError}}</p>{{/testError}}
        {{#testHint}}<p>hint: {{testHint}}</p>{{/testHint}}
        {{/tested}}
        <div class="cols">
        <section>
        <h2>Mapping</h2>
        <div class="box"><table id="mapping">
        <thead><tr><th>Field</th><th>From</th><th>Options</th></tr></thead>
        <tbody>{{#mapping}}<tr><td>{{field}}</td><td>{{from}}</td><td>{{options}}</td></tr>{{/mapping}}</tbody>
        </table></div>
        </section>
        <section>
        <h2>Live preview</h2>
        {{^previewAsked}}<p><a href="{{previewLink}}" id="preview">Map 5 entries read now from the source</a> <span class="muted">(as <code>usersync mapping preview</code>)</span></p>{{/previewAsked}}
        {{#previewError}}<p class="error">{{previewError}}</p>{{/previewError}}
        {{#preview}}
        <div class="box" style="margin-bottom:.7rem"><table class="preview">
        <thead><tr><th colspan="3">{{locator}}</th></tr></thead>
        <tbody>
        {{#fields}}<tr><td>{{#missing}}<b class="error">! </b>{{/missing}}{{field}}</td><td>{{value}}</td><td class="muted">← {{from}}</td></tr>{{/fields}}
        <tr><td>id</td><td colspan="2">{{externalId}}</td></tr>
        <tr><td>state</td><td colspan="2">{{state}}</td></tr>
        {{#skipReason}}<tr><td colspan="3" class="error">skipped by a sync: {{skipReason}}</td></tr>{{/skipReason}}
        {{#conflict}}<tr><td colspan="3" class="error">conflict: {{conflict}}</td></tr>{{/conflict}}
        </tbody></table></div>
        {{/preview}}
        </section>
        </div>
        <h2>Last runs</h2>
        <ul>{{#runs}}<li><a href="{{link}}">#{{id}}</a> <span class="badge {{status}}">{{status}}</span> {{startedAt}}{{#error}} <span class="error">{{error}}</span>{{/error}}</li>{{/runs}}</ul>
        <p><a href="{{runsLink}}">All runs of this source</a></p>
        {{> foot}}
        """,

        "runs": """
        {{> head}}
        <form class="filters" method="get" action="/console/runs">
        <select name="source" aria-label="source">{{#sources}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sources}}</select>
        <select name="status" aria-label="status">{{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select>
        <button type="submit">Filter</button>
        </form>
        {{#empty}}<p>No runs{{#pager.previous}} on this page{{/pager.previous}}.</p>{{/empty}}
        {{^empty}}
        <div class="box"><table id="runs">
        <thead><tr><th>Run</th><th>Source</th><th>Started</th><th>Took</th><th>Status</th><th>Read</th><th>Created</th><th>Updated</th><th>Deactivated</th><th>Reactivated</th><th>Skipped</th><th>Error</th></tr></thead>
        <tbody>
        {{#runs}}<tr><td><a href="{{link}}">#{{id}}</a></td><td>{{source}}</td><td>{{startedAt}}</td><td>{{duration}}</td>
        <td><span class="badge {{status}}">{{status}}</span>{{#dryRun}} (dry run){{/dryRun}}{{#mode}}<br><span class="muted">{{mode}}</span>{{/mode}}</td>
        <td class="num">{{read}}</td><td class="num">{{created}}</td><td class="num">{{updated}}</td><td class="num">{{deactivated}}</td><td class="num">{{reactivated}}</td><td class="num">{{skipped}}</td>
        <td class="error">{{error}}</td></tr>{{/runs}}
        </tbody></table></div>
        {{/empty}}
        {{> pager}}
        {{> foot}}
        """,

        "run": """
        {{> head}}
        {{#run}}
        <dl>
        <dt>Status</dt><dd><span class="badge {{status}}" id="run-status">{{status}}</span>{{#dryRun}} (a dry run: nothing was written){{/dryRun}}</dd>
        <dt>Started</dt><dd>{{startedAt}}</dd>
        <dt>Finished</dt><dd>{{finishedAt}}{{^finishedAt}}—{{/finishedAt}}{{#duration}} ({{duration}}){{/duration}}</dd>
        <dt>Read</dt><dd>{{read}} records{{#mode}}, {{mode}}{{/mode}}{{#fullReason}}: {{fullReason}}{{/fullReason}}</dd>
        <dt>Users</dt><dd>created {{created}}, updated {{updated}}, deactivated {{deactivated}}, reactivated {{reactivated}}, unchanged {{unchanged}}, skipped {{skipped}}</dd>
        {{#groups}}<dt>Groups</dt><dd>{{groupsRead}} read: created {{groupsCreated}}, updated {{groupsUpdated}}, deactivated {{groupsDeactivated}}, reactivated {{groupsReactivated}}; memberships +{{membershipsAdded}} −{{membershipsRemoved}}</dd>{{/groups}}
        {{#error}}<dt>Error</dt><dd class="error" id="run-error">{{error}}</dd>{{/error}}
        </dl>
        {{/run}}
        <h2>Changes</h2>
        {{#hasCounts}}<p>{{#counts}}<span class="badge">{{value}}: {{label}}</span> {{/counts}}</p>{{/hasCounts}}
        {{#noChanges}}<p>No changes{{#pager.previous}} on this page{{/pager.previous}}.</p>{{/noChanges}}
        {{^noChanges}}
        <div class="box"><table id="changes">
        <thead><tr><th>Action</th><th>Of</th><th>Details</th></tr></thead>
        <tbody>{{#changes}}<tr><td>{{action}}</td><td>{{#link}}<a href="{{link}}">{{object}}</a>{{/link}}{{^link}}{{object}}{{/link}}</td><td>{{detail}}</td></tr>{{/changes}}</tbody>
        </table></div>
        {{/noChanges}}
        {{> pager}}
        {{> foot}}
        """,

        "users": """
        {{> head}}
        <form class="filters" method="get" action="/console/users" role="search">
        <input type="search" name="q" value="{{q}}" placeholder="name or email" aria-label="name or email">
        <select name="state" aria-label="state">{{#states}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/states}}</select>
        <select name="source" aria-label="source">{{#sources}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sources}}</select>
        <button type="submit">Search</button>
        </form>
        {{#empty}}<p>No users match.</p>{{/empty}}
        {{^empty}}
        <div class="box"><table id="users">
        <thead><tr><th>Username</th><th>Name</th><th>Email</th><th>State</th><th>Source</th><th>Updated</th></tr></thead>
        <tbody>{{#users}}<tr><td><a href="{{link}}">{{username}}</a></td><td>{{displayName}}</td><td>{{email}}</td><td><span class="badge {{#state}}{{state}}{{/state}}">{{state}}</span></td><td>{{source}}</td><td>{{updatedAt}}</td></tr>{{/users}}</tbody>
        </table></div>
        {{/empty}}
        {{> pager}}
        {{> foot}}
        """,

        "user": """
        {{> head}}
        <p><span class="badge" id="user-state">{{user.state}}</span> <a href="{{receivedLink}}" id="received">Examine the record last received</a></p>
        <dl id="user-fields">{{#fields}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/fields}}</dl>
        <h2>Groups</h2>
        {{#noGroups}}<p>In no group.</p>{{/noGroups}}
        {{^noGroups}}
        <p id="groups-direct">Direct: {{#groups}}<span class="badge">{{.}}</span> {{/groups}}{{^groups}}none{{/groups}}</p>
        {{#hasNested}}<p id="groups-nested">Through nested groups: {{#nestedGroups}}<span class="badge shared">{{.}}</span> {{/nestedGroups}}</p>{{/hasNested}}
        {{/noGroups}}
        <h2>History</h2>
        {{^hasHistory}}<p>No changes recorded.</p>{{/hasHistory}}
        {{#hasHistory}}
        <div class="box"><table id="history"><thead><tr><th>Run</th><th>At</th><th>Change</th></tr></thead>
        <tbody>{{#history}}<tr><td><a href="{{runLink}}">#{{run}}</a></td><td>{{at}}</td><td>{{what}}</td></tr>{{/history}}</tbody></table></div>
        {{/hasHistory}}
        {{> foot}}
        """,

        "received": """
        {{> head}}
        <p><a href="{{user.link}}">← {{user.username}}</a></p>
        {{#found}}
        <p>From <a href="{{runLink}}">run #{{run}}</a>: <code>{{locator}}</code></p>
        <div class="box"><table id="received-attributes"><thead><tr><th>Attribute</th><th>Value</th></tr></thead>
        <tbody>{{#attributes}}<tr><td>{{name}}</td><td>{{value}}</td></tr>{{/attributes}}</tbody></table></div>
        <p class="muted">Values of attributes that hold passwords or other secrets are never shown.</p>
        {{/found}}
        {{^found}}<p>{{why}}</p>{{/found}}
        {{> foot}}
        """,

        "groups": """
        {{> head}}
        <form class="filters" method="get" action="/console/groups">
        <select name="source" aria-label="source">{{#sources}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sources}}</select>
        <button type="submit">Show</button>
        </form>
        {{#empty}}<p>No groups: add a <code>groups</code> section to a source and let it run.</p>{{/empty}}
        {{^empty}}
        <p class="muted">{{count}} groups; members direct / with nested groups. A group with several parents is drawn under each; a cycle is marked where it closes.</p>
        <div class="tree" id="tree">{{{tree}}}</div>
        {{#truncated}}<p class="error">Only the first {{limit}} drawn; <code>usersync groups tree --source NAME --depth N</code> draws a part.</p>{{/truncated}}
        {{/empty}}
        {{> foot}}
        """,

    ]
}
