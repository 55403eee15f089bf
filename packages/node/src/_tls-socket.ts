import type { X509Certificate } from 'node:crypto';
import type { CipherNameAndProtocol, DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { connectionOf } from './_environ.ts';
import { NgiSocket } from './_socket.ts';

/**
 * The socket of an https request (`ngi.url_scheme`), with what `tls.TLSSocket` tells of the
 * client: the details of the connection the environ was made from (`toNodeListener` on
 * `node:https`), so a listener checking client certificates works mounted as on its own server;
 * for an environ made elsewhere, those of a server that asked for no certificate.
 */
export class NgiTlsSocket extends NgiSocket {
  readonly encrypted = true;

  /** A plain socket where a proxy terminated TLS (proxyFix set the scheme) has nothing to tell. */
  private get origin(): TLSSocket | undefined {
    const connection = connectionOf(this.owner.environ) as Partial<TLSSocket> | undefined;
    return typeof connection?.getPeerCertificate === 'function' ? (connection as TLSSocket) : undefined;
  }

  get authorized(): boolean {
    return this.origin?.authorized ?? false;
  }

  get authorizationError(): Error | undefined {
    return this.origin?.authorizationError;
  }

  /** `{}`, as from a TLS socket, when the client sent no certificate or none is known. */
  getPeerCertificate(detailed?: boolean): PeerCertificate | DetailedPeerCertificate {
    return this.origin?.getPeerCertificate(detailed) ?? ({} as PeerCertificate);
  }

  getPeerX509Certificate(): X509Certificate | undefined {
    return this.origin?.getPeerX509Certificate();
  }

  /** The server name the client asked for (SNI), or false without one. */
  get servername(): string | false {
    return (this.origin as { servername?: string | false } | undefined)?.servername || false;
  }

  /** The protocol ALPN chose, or false without one. */
  get alpnProtocol(): string | false {
    return this.origin?.alpnProtocol || false;
  }

  getProtocol(): string | null {
    return this.origin?.getProtocol() ?? null;
  }

  getCipher(): CipherNameAndProtocol | null {
    return this.origin?.getCipher() ?? null;
  }
}
