import Mustache

/// The console's Mustache templates, compiled into the program (a service is one file to
/// install: no template folder to lose). Values are HTML-escaped by `{{…}}`; the one unescaped
/// `{{{…}}}` is the group tree, which `GroupTreeHTML` builds and escapes.
enum ConsoleTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in layout.merging(pages, uniquingKeysWith: { a, _ in a }) {
            try library.register(text, named: name)
        }
        return library
    }

    static let layout: [String: String] = [
        "head": """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{frame.title}} · usersync</title>
        <style>\(style)</style>
        </head>
        <body>
        <header>
        <a class="brand" href="/console/">usersync</a>
        <nav>{{#frame.nav}}<a href="{{link}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/frame.nav}}</nav>
        {{#frame.loggedIn}}<form method="post" action="/console/logout"><button class="link">Log out</button></form>{{/frame.loggedIn}}
        </header>
        <main>
        <h1>{{frame.title}}</h1>

        """,
        "foot": """
        </main>
        <footer>usersync console · read-only: it shows the store and tests connections; it changes nothing.</footer>
        </body>
        </html>

        """,
        "pager": """
        {{#pager.shown}}<p class="pager">{{#pager.previous}}<a href="{{pager.previous}}" rel="prev">← previous</a>{{/pager.previous}} page {{pager.page}} {{#pager.next}}<a href="{{pager.next}}" rel="next">next →</a>{{/pager.next}}</p>{{/pager.shown}}
        """,
        "message": """
        {{> head}}<p>{{message}}</p>{{> foot}}
        """,
    ]

    /// Small, and readable on a phone: tables scroll sideways inside their box, the layout is
    /// one column below 700 px.
    static let style = """
    *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;background:#f6f7f9}
    header{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem 1rem;padding:.6rem 1rem;background:#1f3a5f;color:#fff}
    header a{color:#fff;text-decoration:none}.brand{font-weight:700;margin-right:.5rem}
    nav{display:flex;flex-wrap:wrap;gap:.2rem .9rem}nav a[aria-current]{border-bottom:2px solid #fff}
    header form{margin-left:auto}button.link{background:none;border:0;color:#fff;text-decoration:underline;cursor:pointer;font:inherit}
    main{padding:1rem;max-width:1200px;margin:auto}h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
    .box{overflow-x:auto;background:#fff;border:1px solid #d8dde5;border-radius:6px}
    table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e7eaef;vertical-align:top}
    th{background:#eef1f5;font-weight:600;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
    dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:#fff;border:1px solid #d8dde5;border-radius:6px;padding:.7rem 1rem;margin:0}
    dt{color:#5a6472}dd{margin:0;overflow-wrap:anywhere}
    form.filters{display:flex;flex-wrap:wrap;gap:.5rem;margin-bottom:.8rem}input,select,button{font:inherit;padding:.35rem .5rem}
    button{cursor:pointer}.badge{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.85em;background:#e7eaef}
    .ok,.applied{background:#dcf2e3;color:#14532d}.bad,.failed,.stopped{background:#fde2e1;color:#7f1d1d}.warn,.planned{background:#fff1c7;color:#713f12}
    .running{background:#dbeafe;color:#1e3a8a}.idle{background:#eef1f5}.error{color:#9b1c1c;overflow-wrap:anywhere}
    pre{background:#fff;border:1px solid #d8dde5;border-radius:6px;padding:.7rem;overflow-x:auto;white-space:pre-wrap}
    .cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.cols>*{min-width:0}code{overflow-wrap:anywhere}@media (max-width:700px){.cols{grid-template-columns:1fr}dl{grid-template-columns:1fr}dt{margin-top:.3rem}}
    .tree ul{list-style:none;padding-left:1.2rem;margin:0;border-left:1px dotted #b8c0cc}.tree>ul{padding-left:0;border:0}
    .tree summary{cursor:pointer}.tree li{margin:.15rem 0}.counts{color:#5a6472;font-size:.9em}.cycle{color:#7f1d1d}
    .shared{background:#ede9fe;color:#4c1d95}.pager{display:flex;gap:1rem;align-items:center}.muted{color:#5a6472}
    footer{padding:1rem;color:#5a6472;font-size:.85rem;text-align:center}
    """
}
