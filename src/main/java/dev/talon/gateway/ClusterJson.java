package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.ClusterStatus;
import java.util.Locale;

/** {@code GET /cluster}: the members as this node sees them, and the conversations' shards per node. */
final class ClusterJson {
  private ClusterJson() {}

  static ObjectNode of(ClusterStatus.View view) {
    ObjectNode out = Json.object().put("self", view.self()).put("self_status", status(view.selfState()))
        .put("leader", view.leader().orElse(null));
    ArrayNode members = out.putArray("members");
    ArrayNode unreachable = out.putArray("unreachable");
    for (ClusterStatus.Member member : view.members()) {
      ObjectNode entry = members.addObject().put("address", member.address()).put("status", status(member.state()));
      member.roles().forEach(entry.putArray("roles")::add);
      entry.put("reachable", member.reachable());
      if (!member.reachable()) {
        unreachable.add(member.address());
      }
    }
    view.shards().ifPresentOrElse(shards -> {
      ObjectNode regions = out.putObject("shards");
      shards.entities().forEach((address, counts) -> counts.forEach(regions.putObject(address)::put));
      ObjectNode failures = out.putObject("shard_failures");
      shards.failed().forEach((address, shardIds) -> shardIds.forEach(failures.putArray(address)::add));
    }, () -> out.putNull("shards").putNull("shard_failures"));
    return out;
  }

  /** {@code weakly_up}, {@code up}, …: Pekko's names in the API's case. */
  private static String status(ClusterStatus.State state) {
    return state.name().toLowerCase(Locale.ROOT);
  }
}
