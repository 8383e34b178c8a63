package dev.talon.gateway;

import dev.talon.config.GatewaySettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Optional;
import java.util.UUID;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Response ids carry their conversation, sealed: {@code resp_} and, in base64url, a nonce and the
 * AES-GCM encryption of the turn id and session key. Any node that holds the secret can route
 * {@code previous_response_id} or {@code GET /v1/responses/{id}} to the right conversation without
 * an index that could get lost or out of step; to anyone else an id says nothing, and an altered
 * or foreign id does not open.
 *
 * <p>The nonce is a MAC of the plaintext (the SIV construction), so one response always has one
 * id: the id a client got when the turn started is the one a transcript lists.
 */
public final class ResponseIds {
  static final String PREFIX = "resp_";
  /** The data directory's file with the generated secret, when the config gives none. */
  static final String SECRET_FILE = "response-id.secret";
  private static final int NONCE_BYTES = 12;
  private static final int TAG_BITS = 128;
  private static final int TURN_ID_BYTES = 16;
  private static final int GENERATED_SECRET_BYTES = 32;
  private static final byte[] AAD = "talon response id".getBytes(StandardCharsets.US_ASCII);

  private final SecretKeySpec cipherKey;
  private final SecretKeySpec nonceKey;
  /**
   * One per thread: looking the algorithm up by name costs more than using it, on every id. (A
   * cipher is not kept: GCM refuses to encrypt twice with one nonce, which the same id does.)
   */
  private final ThreadLocal<Mac> nonceMacs;

  record Ref(String sessionKey, String turnId) {}

  ResponseIds(byte[] secret) {
    byte[] master = sha256(secret);
    this.cipherKey = new SecretKeySpec(derive(master, "cipher"), "AES");
    this.nonceKey = new SecretKeySpec(derive(master, "nonce"), "HmacSHA256");
    this.nonceMacs = ThreadLocal.withInitial(() -> hmac(nonceKey));
  }

  /**
   * The node's ids: sealed with {@code gateway.responseIdSecret}, else with a secret generated
   * once into {@code dataDir} (readable by its owner only).
   */
  public static ResponseIds forNode(GatewaySettings settings, Path dataDir) {
    return new ResponseIds(settings.responseIdSecret().map(s -> s.getBytes(StandardCharsets.UTF_8))
        .orElseGet(() -> generatedSecret(dataDir.resolve(SECRET_FILE))));
  }

  String of(String sessionKey, String turnId) {
    UUID turn = UUID.fromString(turnId);
    byte[] key = sessionKey.getBytes(StandardCharsets.UTF_8);
    byte[] plain = ByteBuffer.allocate(TURN_ID_BYTES + key.length).putLong(turn.getMostSignificantBits())
        .putLong(turn.getLeastSignificantBits()).put(key).array();
    byte[] nonce = nonce(plain);
    byte[] sealed;
    try {
      sealed = cipher(Cipher.ENCRYPT_MODE, nonce).doFinal(plain);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM is part of every JDK", e);
    }
    byte[] id = ByteBuffer.allocate(NONCE_BYTES + sealed.length).put(nonce).put(sealed).array();
    return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(id);
  }

  /** The conversation and turn an id names, or empty for anything this node did not seal. */
  Optional<Ref> parse(String id) {
    if (id == null || !id.startsWith(PREFIX)) {
      return Optional.empty();
    }
    byte[] raw;
    try {
      raw = Base64.getUrlDecoder().decode(id.substring(PREFIX.length()));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
    if (raw.length < NONCE_BYTES + TURN_ID_BYTES + TAG_BITS / 8) {
      return Optional.empty();
    }
    byte[] nonce = Arrays.copyOf(raw, NONCE_BYTES);
    byte[] plain;
    try {
      plain = cipher(Cipher.DECRYPT_MODE, nonce).doFinal(raw, NONCE_BYTES, raw.length - NONCE_BYTES);
    } catch (GeneralSecurityException e) {
      return Optional.empty(); // altered, or sealed by another secret
    }
    if (!MessageDigest.isEqual(nonce, nonce(plain))) {
      return Optional.empty();
    }
    ByteBuffer in = ByteBuffer.wrap(plain);
    String turnId = new UUID(in.getLong(), in.getLong()).toString();
    return Optional.of(new Ref(new String(plain, TURN_ID_BYTES, plain.length - TURN_ID_BYTES,
        StandardCharsets.UTF_8), turnId));
  }

  private byte[] nonce(byte[] plain) {
    return Arrays.copyOf(nonceMacs.get().doFinal(plain), NONCE_BYTES);
  }

  private Cipher cipher(int mode, byte[] nonce) throws GeneralSecurityException {
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(mode, cipherKey, new GCMParameterSpec(TAG_BITS, nonce));
    cipher.updateAAD(AAD);
    return cipher;
  }

  private static byte[] derive(byte[] master, String purpose) {
    return hmac(new SecretKeySpec(master, "HmacSHA256")).doFinal(purpose.getBytes(StandardCharsets.US_ASCII));
  }

  private static Mac hmac(SecretKeySpec key) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  private static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }

  /** Reads the secret file, creating it first if there is none; written whole or not at all. */
  private static byte[] generatedSecret(Path file) {
    try {
      if (!Files.exists(file)) {
        byte[] secret = new byte[GENERATED_SECRET_BYTES];
        new SecureRandom().nextBytes(secret);
        Files.createDirectories(file.getParent());
        // a temporary file is created readable by its owner only (0600) where the file system has modes
        Path temporary = Files.createTempFile(file.getParent(), SECRET_FILE, ".new");
        Files.writeString(temporary, Base64.getEncoder().encodeToString(secret), StandardCharsets.US_ASCII);
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE);
      }
      return Base64.getDecoder().decode(Files.readString(file, StandardCharsets.US_ASCII).strip());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or create the response-id secret " + file.toAbsolutePath(), e);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("the response-id secret " + file.toAbsolutePath()
          + " is not base64; delete it to have a new one made (older response ids then stop working)", e);
    }
  }
}
