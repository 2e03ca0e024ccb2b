import Mustache

// The rows a page repeats, with their values by name. swift-mustache reads any other value
// through Mirror, whose every lookup lists all of a value's properties: a tree of 2,000 groups
// took 380 ms to render that way (now built by `GroupTreeHTML`); a run's page of 100 changes 40 ms.

extension Console.Frame: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "loggedIn": loggedIn
        case "nav": nav
        default: nil
        }
    }
}

extension Console.NavLink: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": label
        case "link": link
        case "current": current
        default: nil
        }
    }
}

extension Console.Option: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": value
        case "label": label
        case "selected": selected
        default: nil
        }
    }
}

extension Pager: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": page
        case "previous": previous
        case "next": next
        case "shown": shown
        default: nil
        }
    }
}

extension Console.ChangeRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "action": action
        case "object": object
        case "link": link
        case "detail": detail
        default: nil
        }
    }
}

extension Console.RunRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "link": link
        case "source": source
        case "startedAt": startedAt
        case "duration": duration
        case "status": status
        case "dryRun": dryRun
        case "mode": mode
        case "read": read
        case "created": created
        case "updated": updated
        case "deactivated": deactivated
        case "reactivated": reactivated
        case "skipped": skipped
        case "error": error
        default: nil
        }
    }
}

extension Console.UserRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "link": link
        case "username": username
        case "displayName": displayName
        case "email": email
        case "state": state
        case "source": source
        case "updatedAt": updatedAt
        default: nil
        }
    }
}

extension Console.HistoryRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "run": run
        case "runLink": runLink
        case "at": at
        case "what": what
        default: nil
        }
    }
}

extension Console.Field: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "value": value
        default: nil
        }
    }
}
