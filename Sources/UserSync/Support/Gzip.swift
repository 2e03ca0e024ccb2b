import CZlib

/// gzip compression through zlib, for the copies of received records a run keeps.
/// gzip (not raw deflate) so that an administrator can also read a chunk with
/// `sqlite3 … "SELECT writefile('x.gz', data) …"` and `zcat`.
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The gzip form of `bytes`.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflate_init_gzip(&stream, level) == Z_OK else { throw Failure(description: "zlib: deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        var input = bytes
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw Failure(description: "zlib: deflate returned \(status)") }
        // A copy of the exact size: `removeLast` would keep the whole bound's capacity (about the
        // input's size, four times the output's) for as long as the chunk is held.
        return Array(output[..<Int(stream.total_out)])
    }

    /// The bytes inside gzip data; throws on data that is not gzip or is cut short.
    public static func decompress(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else { throw Failure(description: "zlib: inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var input = bytes
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count * 4)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                result.append(contentsOf: chunk[0..<produced])
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else {
            throw Failure(description: status == Z_BUF_ERROR ? "gzip data cut short" : "not gzip data (zlib status \(status))")
        }
        return result
    }
}
