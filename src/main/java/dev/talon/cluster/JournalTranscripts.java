package dev.talon.cluster;

import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.JournalReader;
import dev.talon.conversation.TurnReplay;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Conversations' turns read from the journal through Pekko Persistence Query: every turn ever
 * taken, including those a compaction folded out of the conversation's memory. Reading streams
 * the events and holds one turn at a time.
 */
public final class JournalTranscripts implements JournalReader {

  /** Turns of one conversation, and whether more follow them. */
  public record Page(List<TurnReplay.Numbered> turns, boolean more) {}

  private final JdbcReadJournal journal;
  private final Materializer materializer;

  public JournalTranscripts(ActorSystem<?> system) {
    this.journal = PersistenceQuery.get(system).getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
    this.materializer = Materializer.matFromSystem(system);
  }

  /** What every conversation's persistence id starts with; its session key follows. */
  static final String PERSISTENCE_ID_PREFIX = ConversationEntity.TYPE_KEY.name() + PersistenceId.DefaultSeparator();

  /** The persistence id of the conversation {@code sessionKey}. */
  public static String persistenceId(String sessionKey) {
    return PersistenceId.of(ConversationEntity.TYPE_KEY.name(), sessionKey).id();
  }

  /** The session key of the conversation {@code persistenceId}. */
  static String sessionKey(String persistenceId) {
    return persistenceId.substring(PERSISTENCE_ID_PREFIX.length());
  }

  @Override
  public CompletionStage<Optional<Turn>> turn(String persistenceId, String turnId) {
    return turns(persistenceId).filter(numbered -> numbered.turn().turnId().equals(turnId))
        .map(TurnReplay.Numbered::turn).runWith(Sink.headOption(), materializer);
  }

  /** The turns numbered after {@code after}, at most {@code limit} of them. */
  public CompletionStage<Page> page(String persistenceId, int after, int limit) {
    return turns(persistenceId).dropWhile(numbered -> numbered.number() <= after).take(limit + 1L)
        .runWith(Sink.seq(), materializer)
        .thenApply(read -> new Page(read.size() > limit ? List.copyOf(read.subList(0, limit)) : read,
            read.size() > limit));
  }

  private Source<TurnReplay.Numbered, NotUsed> turns(String persistenceId) {
    TurnReplay replay = new TurnReplay();
    // concatLazy: the last turn exists only once the events are over.
    return journal.currentEventsByPersistenceId(persistenceId, 0L, Long.MAX_VALUE)
        .map(envelope -> (ConversationEntity.Event) envelope.event())
        .mapConcat(replay::apply)
        .concatLazy(Source.lazySource(() -> Source.from(replay.last().stream().toList())))
        .mapMaterializedValue(ignored -> NotUsed.getInstance());
  }
}
