#!/usr/bin/env bash
# devstack plugin for nova-docker: installs Docker and the driver, points
# nova-compute at it and lets Glance accept container_format=docker.

function install_nova_docker {
    install_package docker.io
    setup_develop "$NOVA_DOCKER_DIR"
    # The nova user reaches the socket through the docker group, never
    # through a world-writable socket.
    sudo usermod -a -G "$DOCKER_GROUP" "$STACK_USER"
    sudo install -d -o root -g root -m 755 /etc/nova/rootwrap.d
    sudo install -o root -g root -m 644 \
        "$NOVA_DOCKER_DIR/etc/rootwrap.d/docker.filters" \
        /etc/nova/rootwrap.d/docker.filters
}

function nova_docker_vif_driver {
    if [[ -n "$NOVA_DOCKER_VIF_DRIVER" ]]; then
        echo "$NOVA_DOCKER_VIF_DRIVER"
    elif [[ "${Q_AGENT:-}" == "opencontrail" ]] || \
            is_service_enabled contrail; then
        echo vrouter
    else
        # OVS, OVS hybrid, OVN and Linux bridge ports are told apart by
        # the port's vif type and details.
        echo generic
    fi
}

function configure_nova_docker {
    iniset "$NOVA_CONF" DEFAULT compute_driver \
        novadocker.virt.docker.driver.DockerDriver
    iniset "$NOVA_CONF" docker host_url "$DOCKER_HOST_URL"
    iniset "$NOVA_CONF" docker vif_driver "$(nova_docker_vif_driver)"
    if is_service_enabled g-api; then
        iniset "$GLANCE_API_CONF" image_format container_formats \
            ami,ari,aki,bare,ovf,ova,docker
    fi
}

if is_service_enabled n-cpu; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-docker"
        install_nova_docker
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-docker"
        configure_nova_docker
    fi
fi
