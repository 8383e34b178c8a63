package dev.talon.conversation;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.AbstractExtensionId;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.Extension;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.Serialization$;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;
import org.apache.pekko.util.ByteStringBuilder;

/**
 * Messages of any size between nodes. Pekko's remoting drops a message larger than its frame
 * (256 KiB by default), and a conversation's messages can be far larger: a 1 MB input, a long
 * answer, the turns it holds. Raising the frame would make every pooled remoting buffer that
 * large, so instead a message crosses as a stream of pieces that each fit a frame well, over a
 * stream ref, with the stream ref's backpressure.
 *
 * <p>A piece is a flag byte (more pieces of this message follow, or not), a length, and up to
 * {@link #pieceBytes} bytes of the message as Pekko serializes it: serializer id, manifest,
 * payload. One element of the stream holds one piece or, when the reader is behind, several
 * whole pieces up to a frame's worth (a stream ref costs a message and its demand per element).
 */
public final class Parcels implements Extension {
  private static final ByteOrder ORDER = ByteOrder.BIG_ENDIAN;
  private static final byte MORE = 1;
  private static final byte LAST = 0;
  /** One per actor system: every conversation that starts on a node shares it. */
  private static final Id ID = new Id();

  private static final class Id extends AbstractExtensionId<Parcels> {
    @Override
    public Parcels createExtension(ExtendedActorSystem system) {
      return new Parcels(system);
    }
  }

  private final Materializer materializer;
  private final Serialization serialization;
  private final int pieceBytes;

  private Parcels(ExtendedActorSystem system) {
    this.materializer = Materializer.matFromSystem(system);
    this.serialization = SerializationExtension.get(system);
    // Half a frame: the rest is room for the envelope, the stream ref's own header and the flag.
    this.pieceBytes = (int) Math.min(Integer.MAX_VALUE,
        system.settings().config().getBytes("pekko.remote.artery.advanced.maximum-frame-size") / 2);
  }

  public static Parcels of(ClassicActorSystemProvider system) {
    return ID.get(system.classicSystem());
  }

  /**
   * {@code message} parceled for a reader on any node when it would not fit one frame; empty when
   * it fits and goes as it is.
   */
  public Optional<SourceRef<ByteString>> ifTooLargeForAFrame(Object message) {
    ByteString serialized = serialize(message);
    return serialized.size() > pieceBytes ? Optional.of(send(serialized)) : Optional.empty();
  }

  /** {@code message} as Pekko serializes it for another node (actor refs with this node's address). */
  ByteString serialize(Object message) {
    Serializer serializer = serialization.findSerializerFor(message);
    String manifest = Serializers.manifestFor(serializer, message);
    // with this node's address in every actor ref, an ask's reply address included
    byte[] payload = Serialization$.MODULE$.withTransportInformation(serialization.system(),
        (scala.Function0<byte[]>) () -> serializer.toBinary(message));
    byte[] name = manifest.getBytes(StandardCharsets.UTF_8);
    return new ByteStringBuilder().putInt(serializer.identifier(), ORDER).putInt(name.length, ORDER).putBytes(name)
        .putBytes(payload).result();
  }

  /** A serialized message as pieces, each fitting a frame. */
  List<ByteString> pieces(ByteString serialized) {
    List<ByteString> pieces = new ArrayList<>();
    ByteString rest = serialized;
    do {
      ByteString piece = rest.take(pieceBytes);
      rest = rest.drop(pieceBytes);
      pieces.add(new ByteStringBuilder().putByte(rest.isEmpty() ? LAST : MORE).putInt(piece.size(), ORDER)
          .append(piece).result());
    } while (!rest.isEmpty());
    return pieces;
  }

  /** One message, parceled, for whoever reads the stream ref on any node. */
  SourceRef<ByteString> send(ByteString serialized) {
    return Source.from(pieces(serialized)).runWith(StreamRefs.sourceRef(), materializer);
  }

  /** The one message sent as {@code pieces}. */
  public <T> CompletionStage<T> receive(SourceRef<ByteString> pieces, Class<T> type) {
    return pieces.getSource().via(messages()).map(type::cast).runWith(Sink.head(), materializer);
  }

  /**
   * Many messages, each serialized and cut into pieces; while the reader is behind, pieces wait
   * together in one element (never longer than the reader takes to ask for more).
   */
  public <T> Flow<T, ByteString, NotUsed> parcels() {
    return Flow.<T>create().mapConcat(message -> pieces(serialize(message)))
        .batchWeighted(pieceBytes, piece -> (long) piece.size(), piece -> piece, ByteString::concat);
  }

  /** Pieces back into the messages they carry, in order. */
  public Flow<ByteString, Object, NotUsed> messages() {
    return Flow.<ByteString>create().statefulMapConcat(() -> {
      ByteStringBuilder message = new ByteStringBuilder();
      return element -> {
        List<Object> whole = new ArrayList<>(1);
        ByteBuffer pieces = element.asByteBuffer().order(ORDER);
        while (pieces.hasRemaining()) {
          byte flag = pieces.get();
          byte[] piece = new byte[pieces.getInt()];
          pieces.get(piece);
          message.putBytes(piece);
          if (flag == LAST) {
            whole.add(deserialize(message.result()));
            message.clear();
          }
        }
        return whole;
      };
    });
  }

  private Object deserialize(ByteString whole) {
    ByteBuffer in = whole.asByteBuffer().order(ORDER);
    int serializerId = in.getInt();
    byte[] name = new byte[in.getInt()];
    in.get(name);
    byte[] payload = new byte[in.remaining()];
    in.get(payload);
    return serialization.deserialize(payload, serializerId, new String(name, StandardCharsets.UTF_8)).get();
  }
}
